"""A tiny fake fleet for the scheduler's tests: tasks and targets that behave as each revision says, on a
hand-driven clock. It obeys the scheduler's commands as the live hands and the simulator do."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from emulator.ecs.model import (
    Command,
    Deregister,
    Forget,
    Kill,
    Launch,
    Register,
    Revision,
    ServiceSpec,
    TargetHealthState,
    TargetReport,
    TaskReport,
    Terminate,
)
from emulator.ecs.scheduler import ServiceScheduler, Step

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/chat/0123456789abcdef"
GOOD = Revision("arn:aws:ecs:us-east-1:123456789012:task-definition/chat:1", (("V", "1"),), 10.0)
NEW = Revision("arn:aws:ecs:us-east-1:123456789012:task-definition/chat:2", (("V", "2"),), 10.0)
BAD = Revision("arn:aws:ecs:us-east-1:123456789012:task-definition/chat:3", (("V", "3"),), 10.0)


@dataclass(frozen=True)
class Behaviour:
    """How the tasks of one revision behave (seconds on the test's clock)."""

    start_seconds: float = 2.0  # Launch -> started
    start_error: str | None = None  # reported instead of a start
    healthy_seconds: float = 1.0  # Register -> healthy (or unhealthy)
    healthy: bool = True
    crash_after: float | None = None  # exits on its own this long after starting
    exit_seconds: float = 1.0  # Terminate -> exited
    ignores_sigterm: bool = False
    drain_seconds: float = 0.0  # Deregister -> target gone (connections closing, or the delay)


@dataclass
class FakeTask:
    task_id: str
    revision: Revision
    behaviour: Behaviour
    launched_at: float
    registered_at: float | None = None
    deregistered_at: float | None = None
    exit_at: float | None = None
    exit_code: int | None = None


@dataclass
class FakeFleet:
    behaviours: Mapping[str, Behaviour] = field(default_factory=dict)  # by task definition ARN
    tasks: dict[str, FakeTask] = field(default_factory=dict)
    now: float = 0.0
    log: list[tuple[float, Command]] = field(default_factory=list)

    def execute(self, command: Command, now: float) -> None:
        self.log.append((now, command))
        if isinstance(command, Launch):
            behaviour = self.behaviours.get(command.revision.task_definition_arn, Behaviour())
            self.tasks[command.task_id] = FakeTask(command.task_id, command.revision, behaviour, now)
            return
        task = self.tasks[command.task_id]
        if isinstance(command, Register):
            task.registered_at = now
        elif isinstance(command, Deregister):
            task.deregistered_at = now
        elif isinstance(command, Terminate):
            if not task.behaviour.ignores_sigterm:
                self._exit(task, now + task.behaviour.exit_seconds, 0)
        elif isinstance(command, Kill):
            self._exit(task, now, 137)
        elif isinstance(command, Forget):
            del self.tasks[command.task_id]

    @staticmethod
    def _exit(task: FakeTask, at: float, code: int) -> None:
        if task.exit_at is None or at < task.exit_at:
            task.exit_at, task.exit_code = at, code

    def _started_at(self, task: FakeTask) -> float | None:
        if task.behaviour.start_error is not None:
            return None
        return task.launched_at + task.behaviour.start_seconds

    def reports(self) -> dict[str, TaskReport]:
        out = {}
        for task in self.tasks.values():
            started_at = self._started_at(task)
            crash = (
                started_at + task.behaviour.crash_after
                if started_at is not None and task.behaviour.crash_after is not None
                else None
            )
            if crash is not None and crash <= self.now:
                self._exit(task, crash, 1)
            exited = task.exit_at is not None and task.exit_at <= self.now
            failed = (
                task.behaviour.start_error is not None
                and self.now >= task.launched_at + task.behaviour.start_seconds
            )
            out[task.task_id] = TaskReport(
                task.task_id,
                started=started_at is not None and started_at <= self.now and not exited,
                start_error=task.behaviour.start_error if failed and not exited else None,
                exited=exited,
                exit_code=task.exit_code if exited else None,
            )
        return out

    def targets(self) -> dict[str, TargetReport]:
        out = {}
        for task in self.tasks.values():
            if task.registered_at is None:
                continue
            exited = task.exit_at is not None and task.exit_at <= self.now
            if task.deregistered_at is not None:
                if self.now >= task.deregistered_at + task.behaviour.drain_seconds:
                    continue  # unused: gone
                state: TargetHealthState = "draining"
            elif exited or self.now < task.registered_at + task.behaviour.healthy_seconds:
                state = "initial" if not exited else "unhealthy"
            else:
                state = "healthy" if task.behaviour.healthy else "unhealthy"
            out[task.task_id] = TargetReport(state)
        return out


def ids(prefix: str = "t") -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"


def scheduler(**kwargs: object) -> ServiceScheduler:
    return ServiceScheduler("chat", new_task_id=ids("t"), new_event_id=ids("e"), **kwargs)  # type: ignore[arg-type]


def spec(
    desired: int = 2,
    deployment_id: str = "ecs-svc/1",
    revision: Revision = GOOD,
    **kwargs: object,
) -> ServiceSpec:
    fields: dict[str, object] = {"target_group_arn": TG, **kwargs}
    return ServiceSpec("chat", desired, deployment_id, revision, **fields)  # type: ignore[arg-type]


def drive(
    sched: ServiceScheduler,
    fleet: FakeFleet,
    specs: Callable[[float], ServiceSpec] | ServiceSpec,
    *,
    until: float,
    start: float | None = None,
    dt: float = 1.0,
    check: Callable[[float, Step, Mapping[str, TargetReport]], None] | None = None,
    stop_when: Callable[[Step], bool] | None = None,
) -> list[Step]:
    """Step every `dt` seconds from `start` (the fleet's clock) to `until`, carrying out every command."""
    now = fleet.now if start is None else start
    steps = []
    while now <= until:
        fleet.now = now
        targets = fleet.targets()
        current = specs(now) if callable(specs) else specs
        step = sched.step(now, current, fleet.reports(), targets)
        run(fleet, step.commands, now)
        steps.append(step)
        if check is not None:
            check(now, step, targets)
        if stop_when is not None and stop_when(step):
            break
        now += dt
    fleet.now = now
    return steps


def run(fleet: FakeFleet, commands: Iterable[Command], now: float) -> None:
    for command in commands:
        fleet.execute(command, now)

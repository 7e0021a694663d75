"""The fault scenarios; a chaos run injects exactly one.

Each scenario's `inject(deployment, seconds, timeline)` carries the fault out and returns once it is over: the
process killed, the frozen process continued, Redis back, the task drained and stopped. It notes what it did, and
when, on the `Timeline`. `seconds` is how long a lasting fault lasts (real seconds: worker processes and clients
live in real time). A fault is always undone, even when the run is interrupted (a frozen task gets its SIGCONT,
a stopped Redis is started again).

A task picked for a single-task fault is the one serving the most client connections (the oldest on a tie): the
fault that hurts most.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from emulator.chaos.faults import Deployment, FaultError, TaskRef
from emulator.clock import Clock

SCALE_IN_TIMEOUT = 300.0  # real seconds for the drained task to stop: deregistration delay + stop timeout
ROLLOUT_TIMEOUT = 600.0  # real seconds for a rolling deployment of every task to complete


@dataclass
class Timeline:
    """What happened when, in seconds since `origin` on `clock`."""

    clock: Clock
    origin: float
    events: list[tuple[float, str]] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.events.append((self.clock.now() - self.origin, text))


Inject = Callable[[Deployment, float, Timeline], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    inject: Inject | None
    default_seconds: float = 0.0  # how long the fault lasts by default (0: it does not last)
    needs_redis: bool = False  # needs the emulator's private redis-server
    unavailable: str | None = None  # why the scenario cannot run yet

    @property
    def lasts(self) -> bool:
        return self.default_seconds > 0


def busiest(tasks: list[TaskRef]) -> TaskRef:
    if not tasks:
        raise FaultError("no RUNNING task to inject the fault into")
    return max(tasks, key=lambda t: t.connections)  # max() keeps the first (oldest) on a tie


def _describe(task: TaskRef) -> str:
    return f"task {task.short} (pid {task.pid}, {task.connections} client connections)"


async def kill_task(deployment: Deployment, seconds: float, timeline: Timeline) -> None:
    task = busiest(deployment.running_tasks())
    if not deployment.signal(task, signal.SIGKILL):
        raise FaultError(f"task {task.short} has no process to kill")
    timeline.note(f"SIGKILL {_describe(task)}")


async def kill_all(deployment: Deployment, seconds: float, timeline: Timeline) -> None:
    tasks = deployment.running_tasks()
    if not tasks:
        raise FaultError("no RUNNING task to kill")
    killed = [task for task in tasks if deployment.signal(task, signal.SIGKILL)]
    timeline.note(f"SIGKILL every task: {', '.join(_describe(t) for t in killed)}")


async def freeze_task(deployment: Deployment, seconds: float, timeline: Timeline) -> None:
    task = busiest(deployment.running_tasks())
    if not deployment.signal(task, signal.SIGSTOP):
        raise FaultError(f"task {task.short} has no process to freeze")
    timeline.note(f"SIGSTOP {_describe(task)} for {seconds:g} s")
    try:
        await deployment.clock.sleep(seconds)
    finally:
        alive = deployment.signal(task, signal.SIGCONT)
        timeline.note(f"SIGCONT task {task.short}" if alive else f"task {task.short} was gone before SIGCONT")


async def restart_redis(deployment: Deployment, seconds: float, timeline: Timeline) -> None:
    _need_redis(deployment)
    timeline.note(await deployment.stop_redis())
    timeline.note(await deployment.start_redis())


async def stop_redis(deployment: Deployment, seconds: float, timeline: Timeline) -> None:
    _need_redis(deployment)
    timeline.note(f"{await deployment.stop_redis()}, for {seconds:g} s")
    try:
        await deployment.clock.sleep(seconds)
    finally:
        timeline.note(await deployment.start_redis())


async def scale_in(deployment: Deployment, seconds: float, timeline: Timeline) -> None:
    desired = deployment.desired_count()
    if desired < 2:
        raise FaultError(f"scale-in needs at least 2 tasks (the desired count is {desired}): use --workers")
    before = {task.task_id for task in deployment.running_tasks()}
    await deployment.set_desired_count(desired - 1)
    timeline.note(f"desired count {desired} -> {desired - 1} (ECS UpdateService)")
    stopped = await deployment.wait_stopped(before, SCALE_IN_TIMEOUT)
    if stopped is None:
        raise FaultError(f"no task stopped within {SCALE_IN_TIMEOUT:g} s of the scale-in")
    timeline.note(f"task {stopped.task_id[:8]} deregistered, drained and stopped ({stopped.reason})")


async def rolling_deployment(deployment: Deployment, seconds: float, timeline: Timeline) -> None:
    before = {task.task_id for task in deployment.running_tasks()}
    deployment_id = await deployment.force_new_deployment()
    timeline.note(f"new deployment {deployment_id} (ECS UpdateService --force-new-deployment)")
    state = await deployment.wait_rollout(deployment_id, ROLLOUT_TIMEOUT)
    if state is None:
        raise FaultError(f"deployment {deployment_id} did not finish within {ROLLOUT_TIMEOUT:g} s")
    left = before & {task.task_id for task in deployment.running_tasks()}
    timeline.note(
        f"deployment {deployment_id} {state}: {len(before) - len(left)} of {len(before)} tasks replaced"
    )
    if state != "COMPLETED":
        raise FaultError(f"deployment {deployment_id} ended {state}")


def _need_redis(deployment: Deployment) -> None:
    if not deployment.redis_controllable():
        raise FaultError("this scenario needs the emulator's private redis-server (install redis-server)")


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("kill-task", "SIGKILL the task serving the most clients", kill_task),
        Scenario("kill-all", "SIGKILL every task at once", kill_all),
        Scenario(
            "freeze-task",
            "SIGSTOP the task serving the most clients, SIGCONT it after --seconds",
            freeze_task,
            default_seconds=15.0,
        ),
        Scenario(
            "restart-redis", "stop Redis and start it again at once, empty", restart_redis, needs_redis=True
        ),
        Scenario(
            "stop-redis",
            "stop Redis for --seconds, then start it again, empty",
            stop_redis,
            default_seconds=5.0,
            needs_redis=True,
        ),
        Scenario(
            "scale-in",
            "lower the ECS desired count by one: a task is deregistered, drained and stopped",
            scale_in,
        ),
        Scenario(
            "rolling-deployment",
            "force a new deployment: every task is replaced within minimumHealthyPercent / maximumPercent",
            rolling_deployment,
        ),
    )
}

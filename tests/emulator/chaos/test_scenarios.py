"""Each scenario against a fake deployment: which task it hits, which signals it sends, that it always undoes a
lasting fault, and when it refuses to run."""

from __future__ import annotations

import asyncio
import signal

import pytest

from emulator.chaos.faults import FaultError, StoppedTask, TaskRef
from emulator.chaos.scenarios import SCENARIOS, Timeline
from emulator.clock import VirtualClock


class FakeDeployment:
    def __init__(self, tasks: list[TaskRef], *, redis: bool = True, desired: int | None = None) -> None:
        self.clock = VirtualClock()
        self.tasks = tasks
        self.signals: list[tuple[str, int]] = []
        self.redis = redis
        self.redis_log: list[str] = []
        self.desired = len(tasks) if desired is None else desired
        self.gone: set[str] = set()
        self.rollouts: list[str] = []
        self.rollout_state: str | None = "COMPLETED"

    def running_tasks(self) -> list[TaskRef]:
        return list(self.tasks)

    def signal(self, task: TaskRef, signum: int) -> bool:
        if task.task_id in self.gone:
            return False
        self.signals.append((task.task_id, signum))
        return True

    def redis_controllable(self) -> bool:
        return self.redis

    async def stop_redis(self) -> str:
        self.redis_log.append("stop")
        return "stopped"

    async def start_redis(self) -> str:
        self.redis_log.append("start")
        return "started"

    def desired_count(self) -> int:
        return self.desired

    async def set_desired_count(self, n: int) -> None:
        self.desired = n

    async def wait_stopped(self, task_ids: set[str], timeout: float) -> StoppedTask | None:
        newest = self.tasks[-1].task_id
        return StoppedTask(newest, "Scaling activity") if newest in task_ids else None

    async def force_new_deployment(self) -> str:
        self.rollouts.append("ecs-svc/2")
        return "ecs-svc/2"

    async def wait_rollout(self, deployment_id: str, timeout: float) -> str | None:
        if self.rollout_state == "COMPLETED":
            self.tasks = [TaskRef(t.task_id.upper(), t.pid, 0) for t in self.tasks]  # every task replaced
        return self.rollout_state

    def alb_connections(self) -> int:
        return 0

    def task_of(self, sticky: str | None) -> str | None:
        return sticky


TASKS = [TaskRef("a" * 32, 101, 3), TaskRef("b" * 32, 102, 5), TaskRef("c" * 32, 103, 5)]


async def inject(name: str, deployment: FakeDeployment, seconds: float = 0.0) -> Timeline:
    timeline = Timeline(deployment.clock, deployment.clock.now())
    scenario = SCENARIOS[name]
    assert scenario.inject is not None
    await scenario.inject(deployment, seconds, timeline)
    return timeline


async def test_kill_task_kills_the_busiest_task_the_oldest_on_a_tie() -> None:
    deployment = FakeDeployment(TASKS)
    timeline = await inject("kill-task", deployment)
    assert deployment.signals == [("b" * 32, signal.SIGKILL)]
    assert "SIGKILL task bbbbbbbb (pid 102, 5 client connections)" in timeline.events[0][1]


async def test_kill_all_kills_every_task() -> None:
    deployment = FakeDeployment(TASKS)
    await inject("kill-all", deployment)
    assert deployment.signals == [(t.task_id, signal.SIGKILL) for t in TASKS]


async def test_freeze_task_continues_the_task_after_the_seconds() -> None:
    deployment = FakeDeployment(TASKS)
    run = asyncio.ensure_future(inject("freeze-task", deployment, seconds=15.0))
    await asyncio.sleep(0)
    await deployment.clock.advance(14.9)
    assert deployment.signals == [("b" * 32, signal.SIGSTOP)]
    await deployment.clock.advance(0.2)
    timeline = await run
    assert deployment.signals[-1] == ("b" * 32, signal.SIGCONT)
    assert [round(at, 1) for at, _ in timeline.events] == [0.0, 15.0]


async def test_an_interrupted_freeze_still_sends_sigcont() -> None:
    deployment = FakeDeployment(TASKS)
    run = asyncio.ensure_future(inject("freeze-task", deployment, seconds=60.0))
    await asyncio.sleep(0)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert deployment.signals == [("b" * 32, signal.SIGSTOP), ("b" * 32, signal.SIGCONT)]


async def test_stop_redis_starts_it_again_even_when_interrupted() -> None:
    deployment = FakeDeployment(TASKS)
    run = asyncio.ensure_future(inject("stop-redis", deployment, seconds=5.0))
    await asyncio.sleep(0)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert deployment.redis_log == ["stop", "start"]


async def test_restart_redis_stops_and_starts() -> None:
    deployment = FakeDeployment(TASKS)
    await inject("restart-redis", deployment)
    assert deployment.redis_log == ["stop", "start"]


@pytest.mark.parametrize("name", ["restart-redis", "stop-redis"])
async def test_redis_scenarios_refuse_without_a_private_redis_server(name: str) -> None:
    deployment = FakeDeployment(TASKS, redis=False)
    with pytest.raises(FaultError, match="redis-server"):
        await inject(name, deployment)
    assert deployment.redis_log == []


async def test_scale_in_lowers_the_desired_count_and_waits_for_the_stopped_task() -> None:
    deployment = FakeDeployment(TASKS)
    timeline = await inject("scale-in", deployment)
    assert deployment.desired == 2
    assert [text for _, text in timeline.events] == [
        "desired count 3 -> 2 (ECS UpdateService)",
        "task cccccccc deregistered, drained and stopped (Scaling activity)",
    ]


async def test_scale_in_needs_two_tasks() -> None:
    deployment = FakeDeployment(TASKS[:1])
    with pytest.raises(FaultError, match="at least 2 tasks"):
        await inject("scale-in", deployment)
    assert deployment.desired == 1


async def test_a_task_fault_without_a_task_is_refused() -> None:
    with pytest.raises(FaultError, match="no RUNNING task"):
        await inject("kill-task", FakeDeployment([]))


async def test_rolling_deployment_forces_a_new_deployment_and_waits_for_it_to_complete() -> None:
    deployment = FakeDeployment(list(TASKS))
    timeline = await inject("rolling-deployment", deployment)
    assert deployment.rollouts == ["ecs-svc/2"]
    assert [text for _, text in timeline.events] == [
        "new deployment ecs-svc/2 (ECS UpdateService --force-new-deployment)",
        "deployment ecs-svc/2 COMPLETED: 3 of 3 tasks replaced",
    ]


@pytest.mark.parametrize("state", ["FAILED", None])
async def test_a_rolling_deployment_that_fails_or_hangs_is_a_fault_error(state: str | None) -> None:
    deployment = FakeDeployment(list(TASKS))
    deployment.rollout_state = state
    with pytest.raises(FaultError):
        await inject("rolling-deployment", deployment)


def test_every_scenario_is_available() -> None:
    assert [s.name for s in SCENARIOS.values() if s.inject is None or s.unavailable] == []

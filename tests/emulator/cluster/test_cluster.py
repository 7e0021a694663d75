"""The service scheduler's rules: follow the desired count, replace dead tasks, stop in AWS's order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from emulator.clock import VirtualClock
from emulator.cluster import Cluster, Task, TaskCounts
from emulator.cluster.task import REASON_EXITED, REASON_SCALING_IN, REASON_START_FAILED, REASON_UNHEALTHY

from .fakes import FakeLauncher, settle


@pytest.fixture
def launcher() -> FakeLauncher:
    return FakeLauncher()


@pytest.fixture
async def cluster(launcher: FakeLauncher) -> AsyncIterator[Cluster]:
    clock = VirtualClock()
    cluster = Cluster(launcher, clock, desired_count=2, stop_timeout_seconds=30)
    await cluster.start()
    yield cluster
    await cluster.shutdown(force=True)


def running(cluster: Cluster) -> list[Task]:
    return [t for t in cluster.tasks if t.status == "RUNNING"]


async def test_starts_the_desired_count_and_reports_ecs_counts(cluster: Cluster) -> None:
    """Two desired tasks become two RUNNING workers on their own ports; moto's counts would read 2/0."""
    await settle(lambda: len(running(cluster)) == 2)

    assert TaskCounts(running=2, pending=0) == cluster.counts()
    assert len({t.port for t in cluster.tasks}) == 2
    assert all(t.url.startswith("http://127.0.0.1:") for t in cluster.tasks)


async def test_lifecycle_is_announced_in_ecs_order(launcher: FakeLauncher) -> None:
    """Subscribers see PROVISIONING, PENDING, RUNNING, then DEACTIVATING, STOPPING, STOPPED."""
    cluster = Cluster(launcher, VirtualClock(), desired_count=1)
    seen: list[tuple[str | None, str]] = []
    cluster.subscribe(lambda task, old, new: seen.append((old, new)))
    await cluster.start()
    await settle(lambda: len(running(cluster)) == 1)
    await cluster.shutdown()

    assert seen == [
        (None, "PROVISIONING"),
        ("PROVISIONING", "PENDING"),
        ("PENDING", "RUNNING"),
        ("RUNNING", "DEACTIVATING"),
        ("DEACTIVATING", "STOPPING"),
        ("STOPPING", "STOPPED"),
    ]


async def test_a_task_that_dies_is_stopped_and_replaced(cluster: Cluster, launcher: FakeLauncher) -> None:
    """A crashed worker is STOPPED with ECS's reason and a new task takes its place."""
    await settle(lambda: len(running(cluster)) == 2)
    victim = cluster.tasks[0]
    launcher.runtimes[victim.task_id].crash(1)
    await settle(lambda: len(running(cluster)) == 2 and victim.status == "STOPPED")

    assert victim.stopped_reason is not None
    assert victim.stopped_reason.startswith(REASON_EXITED)
    assert victim.exit_code == 1
    assert victim.task_id not in {t.task_id for t in cluster.tasks}
    assert victim.task_id in launcher.forgotten


async def test_scale_in_deregisters_before_sigterm(launcher: FakeLauncher) -> None:
    """Scale-in: the drain hook runs (DEACTIVATING) before the worker gets SIGTERM."""
    order: list[str] = []

    async def drain(task: Task) -> None:
        order.append(f"drain:{task.status}:{launcher.runtimes[task.task_id].signals}")

    cluster = Cluster(launcher, VirtualClock(), desired_count=3, on_deactivating=drain)
    await cluster.start()
    await settle(lambda: len(running(cluster)) == 3)
    newest = cluster.tasks[-1]
    cluster.set_desired_count(2)
    await settle(lambda: newest.status == "STOPPED")

    assert order == ["drain:DEACTIVATING:[]"]
    assert launcher.runtimes[newest.task_id].signals == ["SIGTERM"]
    assert newest.stopped_reason == REASON_SCALING_IN
    assert len(running(cluster)) == 2
    await cluster.shutdown(force=True)


async def test_sigkill_after_the_stop_timeout(launcher: FakeLauncher) -> None:
    """A worker that ignores SIGTERM is SIGKILLed once stopTimeout has passed on the clock, not before."""
    launcher.obeys_sigterm = False
    clock = VirtualClock()
    cluster = Cluster(launcher, clock, desired_count=1, stop_timeout_seconds=30)
    await cluster.start()
    await settle(lambda: len(running(cluster)) == 1)
    task = cluster.tasks[0]
    stopping = asyncio.ensure_future(cluster.shutdown())
    await settle(lambda: task.status == "STOPPING")
    await clock.advance(29)

    assert launcher.runtimes[task.task_id].signals == ["SIGTERM"]

    await clock.advance(2)
    await stopping

    assert launcher.runtimes[task.task_id].signals == ["SIGTERM", "SIGKILL"]
    assert task.exit_code == 137


async def test_unhealthy_task_is_replaced_within_maximum_percent(launcher: FakeLauncher) -> None:
    """At maximumPercent 100 the replacement waits until the unhealthy task has fully stopped."""
    release = asyncio.Event()

    async def drain(task: Task) -> None:
        await release.wait()

    cluster = Cluster(launcher, VirtualClock(), desired_count=1, maximum_percent=100, on_deactivating=drain)
    await cluster.start()
    await settle(lambda: len(running(cluster)) == 1)
    sick = cluster.tasks[0]
    cluster.request_stop(sick.task_id, REASON_UNHEALTHY)
    await settle(lambda: sick.status == "DEACTIVATING")
    for _ in range(20):
        await asyncio.sleep(0)

    assert [sick] == cluster.tasks

    release.set()
    await settle(lambda: len(running(cluster)) == 1 and sick.status == "STOPPED")

    assert sick.stopped_reason == REASON_UNHEALTHY
    await cluster.shutdown(force=True)


async def test_unhealthy_task_is_replaced_at_once_with_headroom(cluster: Cluster) -> None:
    """At maximumPercent 200 the replacement starts while the unhealthy task still drains."""
    await settle(lambda: len(running(cluster)) == 2)
    gate = asyncio.Event()

    async def drain(task: Task) -> None:
        await gate.wait()

    cluster.on_deactivating = drain
    sick = cluster.tasks[0]
    cluster.request_stop(sick.task_id, REASON_UNHEALTHY)
    await settle(lambda: len(running(cluster)) == 2 and sick.status == "DEACTIVATING")

    assert TaskCounts(running=2, pending=0) == cluster.counts()
    gate.set()


async def test_a_task_that_cannot_start_is_stopped_and_retried(launcher: FakeLauncher) -> None:
    """A start failure is reported as the stopped reason; the scheduler launches another task."""
    launcher.failures_left = 1
    cluster = Cluster(launcher, VirtualClock(), desired_count=1)
    await cluster.start()
    await settle(lambda: len(running(cluster)) == 1)

    [failed] = list(cluster.stopped)
    assert failed.stopped_reason is not None
    assert failed.stopped_reason.startswith(REASON_START_FAILED)
    await cluster.shutdown(force=True)


async def test_force_shutdown_kills_without_draining(launcher: FakeLauncher) -> None:
    """A second Ctrl+C: every worker gets SIGKILL at once, the drain hook is not waited for."""
    never = asyncio.Event()

    async def drain(task: Task) -> None:
        await never.wait()

    cluster = Cluster(launcher, VirtualClock(), desired_count=2, on_deactivating=drain)
    await cluster.start()
    await settle(lambda: len(running(cluster)) == 2)
    cluster.set_desired_count(1)
    await settle(lambda: any(t.status == "DEACTIVATING" for t in cluster.tasks))
    await cluster.shutdown(force=True)

    assert cluster.tasks == []
    assert all("SIGKILL" in r.signals for r in launcher.runtimes.values())

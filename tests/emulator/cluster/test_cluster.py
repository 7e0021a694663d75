"""The scheduler's hands: they carry out Launch / Terminate / Kill / Forget and report each task truthfully."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from emulator.cluster import Cluster, WorkerStartError
from emulator.ecs.model import Deregister, Forget, Kill, Launch, Register, Revision, TaskReport, Terminate

from .fakes import FakeLauncher, settle, spin

REVISION = Revision(
    "arn:aws:ecs:us-east-1:123456789012:task-definition/chat:2",
    environment=(("PING_INTERVAL", "2"), ("LOG_LEVEL", "DEBUG")),
)


class Changes:
    """Counts on_change() calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
def launcher() -> FakeLauncher:
    return FakeLauncher()


@pytest.fixture
def changes() -> Changes:
    return Changes()


@pytest.fixture
async def cluster(launcher: FakeLauncher, changes: Changes) -> AsyncIterator[Cluster]:
    cluster = Cluster(launcher, on_change=changes)
    yield cluster
    await cluster.close()


def report(cluster: Cluster, task_id: str) -> TaskReport:
    return cluster.reports()[task_id]


async def launched(cluster: Cluster, task_id: str, revision: Revision = REVISION) -> TaskReport:
    cluster.execute(Launch(task_id, revision))
    await settle(lambda: report(cluster, task_id).started or report(cluster, task_id).exited)
    return report(cluster, task_id)


async def test_a_launch_starts_a_worker_with_its_revisions_environment(
    cluster: Cluster, launcher: FakeLauncher, changes: Changes
) -> None:
    """Launch is reported at once as not started; once it listens: started, an endpoint, a PID, on_change."""
    cluster.execute(Launch("t1", REVISION))

    assert cluster.reports() == {"t1": TaskReport("t1")}
    assert cluster.endpoint("t1") is None

    await settle(lambda: report(cluster, "t1").started)

    assert report(cluster, "t1") == TaskReport("t1", started=True)
    assert launcher.environments["t1"] == {"PING_INTERVAL": "2", "LOG_LEVEL": "DEBUG"}
    assert cluster.endpoint("t1") == ("127.0.0.1", launcher.runtimes["t1"].port)
    assert cluster.pid("t1") == launcher.runtimes["t1"].pid
    assert cluster.open_connections("t1") == 0
    assert changes.calls == 1


async def test_each_task_keeps_the_revision_it_was_launched_with(
    cluster: Cluster, launcher: FakeLauncher
) -> None:
    """A new revision reaches only the tasks launched with it."""
    new = Revision("arn:aws:ecs:us-east-1:123456789012:task-definition/chat:3", (("PING_INTERVAL", "5"),))
    await launched(cluster, "old")
    await launched(cluster, "new", new)

    assert launcher.environments["old"]["PING_INTERVAL"] == "2"
    assert launcher.environments["new"] == {"PING_INTERVAL": "5"}


async def test_terminate_is_sigterm_and_the_exit_is_reported_with_its_code(
    cluster: Cluster, launcher: FakeLauncher, changes: Changes
) -> None:
    await launched(cluster, "t1")
    cluster.execute(Terminate("t1"))
    await settle(lambda: report(cluster, "t1").exited)

    assert report(cluster, "t1") == TaskReport("t1", started=True, exited=True, exit_code=0)
    assert launcher.runtimes["t1"].signals == ["SIGTERM"]
    assert changes.calls == 2  # started, exited
    assert cluster.cpu_seconds() == {}


async def test_a_worker_that_ignores_sigterm_runs_until_the_scheduler_kills_it(
    cluster: Cluster, launcher: FakeLauncher
) -> None:
    """The hands never escalate on their own: SIGKILL after stopTimeout is the scheduler's decision."""
    launcher.obeys_sigterm = False
    await launched(cluster, "t1")
    cluster.execute(Terminate("t1"))
    cluster.execute(Terminate("t1"))  # said again on the next step: one SIGTERM
    await spin()

    assert not report(cluster, "t1").exited
    assert launcher.runtimes["t1"].signals == ["SIGTERM"]

    cluster.execute(Kill("t1"))
    await settle(lambda: report(cluster, "t1").exited)

    assert launcher.runtimes["t1"].signals == ["SIGTERM", "SIGKILL"]
    assert report(cluster, "t1").exit_code == 137


async def test_a_worker_that_dies_on_its_own_is_reported_with_its_code(
    cluster: Cluster, launcher: FakeLauncher
) -> None:
    await launched(cluster, "t1")
    launcher.runtimes["t1"].crash(3)
    await settle(lambda: report(cluster, "t1").exited)

    assert report(cluster, "t1") == TaskReport("t1", started=True, exited=True, exit_code=3)


async def test_kill_during_the_start_cancels_it(
    cluster: Cluster, launcher: FakeLauncher, changes: Changes
) -> None:
    """A task killed while its worker is still starting never starts; it exits, with no start error."""
    launcher.gate = asyncio.Event()
    cluster.execute(Launch("t1", REVISION))
    await settle(lambda: "t1" in launcher.runtimes and launcher.runtimes["t1"].pid is not None)
    cluster.execute(Kill("t1"))
    await settle(lambda: report(cluster, "t1").exited)
    launcher.gate.set()
    await spin()

    assert report(cluster, "t1") == TaskReport("t1", exited=True, exit_code=137)
    assert launcher.runtimes["t1"].start_cancelled
    assert launcher.runtimes["t1"].signals == ["SIGKILL"]
    assert cluster.endpoint("t1") is None
    assert changes.calls == 1


async def test_terminate_during_the_start_stops_it_once_started(
    cluster: Cluster, launcher: FakeLauncher
) -> None:
    """SIGTERM to a starting worker is sent as soon as it listens: a graceful exit, not a start error."""
    launcher.gate = asyncio.Event()
    cluster.execute(Launch("t1", REVISION))
    await settle(lambda: "t1" in launcher.runtimes)
    cluster.execute(Terminate("t1"))
    await spin()

    assert launcher.runtimes["t1"].signals == []

    launcher.gate.set()
    await settle(lambda: report(cluster, "t1").exited)

    assert report(cluster, "t1") == TaskReport("t1", started=True, exited=True, exit_code=0)
    assert launcher.runtimes["t1"].signals == ["SIGTERM"]


@pytest.mark.parametrize("command", [Terminate("t1"), Kill("t1")])
async def test_a_task_stopped_before_its_start_began_is_never_started(
    cluster: Cluster, launcher: FakeLauncher, command: Terminate | Kill
) -> None:
    cluster.execute(Launch("t1", REVISION))
    cluster.execute(command)
    await settle(lambda: report(cluster, "t1").exited)

    assert report(cluster, "t1") == TaskReport("t1", exited=True)
    assert "t1" not in launcher.runtimes


async def test_a_start_error_is_reported_not_raised(
    cluster: Cluster, launcher: FakeLauncher, changes: Changes
) -> None:
    """A worker that cannot start: start_error says why, and nothing of it is left running."""
    launcher.failures_left = 1
    cluster.execute(Launch("t1", REVISION))
    await settle(lambda: report(cluster, "t1").exited)

    failed = report(cluster, "t1")
    assert failed.start_error is not None and "boom at start" in failed.start_error
    assert not failed.started
    assert launcher.runtimes["t1"].signals == ["SIGKILL"]
    assert changes.calls == 1

    await launched(cluster, "t2")  # the next one starts
    assert report(cluster, "t2").started


async def test_a_launcher_that_refuses_is_a_start_error(cluster: Cluster, launcher: FakeLauncher) -> None:
    """A revision the launcher cannot run (e.g. a bad setting) is the task's start error."""
    launcher.refuse = WorkerStartError("configuration error: PING_INTERVAL='-1' is not valid")
    cluster.execute(Launch("t1", REVISION))
    await settle(lambda: report(cluster, "t1").exited)

    error = report(cluster, "t1").start_error
    assert error is not None and "PING_INTERVAL" in error


async def test_cpu_seconds_only_for_started_tasks_that_have_not_exited(
    cluster: Cluster, launcher: FakeLauncher
) -> None:
    await launched(cluster, "running")
    await launched(cluster, "gone")
    cluster.execute(Terminate("gone"))
    launcher.gate = asyncio.Event()
    cluster.execute(Launch("starting", REVISION))
    await settle(lambda: report(cluster, "gone").exited and "starting" in launcher.runtimes)

    assert cluster.cpu_seconds() == {"running": 0.5}
    assert cluster.open_connections("starting") is None


async def test_kill_worker_is_a_fault_reported_as_an_exit(
    cluster: Cluster, launcher: FakeLauncher, changes: Changes
) -> None:
    await launched(cluster, "t1")
    cluster.kill_worker("t1")
    await settle(lambda: report(cluster, "t1").exited)

    assert report(cluster, "t1") == TaskReport("t1", started=True, exited=True, exit_code=137)
    assert changes.calls == 2


async def test_forget_drops_the_report(cluster: Cluster, launcher: FakeLauncher) -> None:
    await launched(cluster, "t1")
    cluster.execute(Terminate("t1"))
    await settle(lambda: report(cluster, "t1").exited)
    cluster.execute(Forget("t1"))
    await spin()

    assert cluster.reports() == {}
    assert cluster.endpoint("t1") is None
    assert launcher.forgotten == ["t1"]


async def test_a_worker_forgotten_while_running_is_killed(
    cluster: Cluster, launcher: FakeLauncher, changes: Changes
) -> None:
    await launched(cluster, "t1")
    cluster.execute(Forget("t1"))
    await settle(lambda: launcher.forgotten == ["t1"])

    assert launcher.runtimes["t1"].signals == ["SIGKILL"]
    assert cluster.reports() == {}
    assert changes.calls == 1  # its exit is nobody's news any more


async def test_load_balancer_commands_and_unknown_tasks_are_ignored(cluster: Cluster) -> None:
    await launched(cluster, "t1")
    for command in (Register("t1"), Deregister("t1"), Terminate("nobody"), Kill("nobody"), Forget("nobody")):
        cluster.execute(command)
    cluster.kill_worker("nobody")
    await spin()

    assert cluster.reports() == {"t1": TaskReport("t1", started=True)}


async def test_close_kills_every_worker_even_one_still_starting(launcher: FakeLauncher) -> None:
    cluster = Cluster(launcher)
    await launched(cluster, "running")
    launcher.gate = asyncio.Event()
    cluster.execute(Launch("starting", REVISION))
    await settle(lambda: "starting" in launcher.runtimes)
    await cluster.close()

    assert {task_id: r.exited for task_id, r in cluster.reports().items()} == {
        "running": True,
        "starting": True,
    }
    assert all(r.signals == ["SIGKILL"] for r in launcher.runtimes.values())
    cluster.execute(Launch("late", REVISION))
    assert report(cluster, "late").start_error == "the emulator is shutting down"

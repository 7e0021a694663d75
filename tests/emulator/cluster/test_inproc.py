"""In-process workers: real ChatWorkers on one shared embedded Redis, CPU split by connections."""

from __future__ import annotations

from types import SimpleNamespace

import fakeredis
import httpx

from emulator.clock import WallClock
from emulator.cluster import Cluster
from emulator.cluster.inproc import InProcLauncher, SharedCpuMeter

from .fakes import settle


class ScriptedProcess:
    """A psutil.Process stand-in whose CPU time the test sets."""

    def __init__(self) -> None:
        self.seconds = 10.0

    def cpu_times(self) -> SimpleNamespace:
        return SimpleNamespace(user=self.seconds, system=0.0)


def test_cpu_is_split_by_open_connections() -> None:
    """CPU used between samples goes to workers in proportion to their connections."""
    process = ScriptedProcess()
    meter = SharedCpuMeter(process)  # type: ignore[arg-type]
    connections = {"a": 3, "b": 1}
    meter.register("a", lambda: connections["a"])
    meter.register("b", lambda: connections["b"])
    process.seconds += 4.0

    assert meter.cpu_seconds("a") == 3.0
    assert meter.cpu_seconds("b") == 1.0


def test_idle_workers_share_cpu_equally_and_newcomers_start_at_zero() -> None:
    """With no connections anywhere the split is equal; a worker registered later owes nothing earlier."""
    process = ScriptedProcess()
    meter = SharedCpuMeter(process)  # type: ignore[arg-type]
    meter.register("a", lambda: 0)
    process.seconds += 2.0
    meter.register("b", lambda: 0)
    process.seconds += 2.0

    assert meter.cpu_seconds("a") == 3.0
    assert meter.cpu_seconds("b") == 1.0


async def test_inproc_workers_serve_and_a_killed_one_is_replaced() -> None:
    """Two in-process workers answer /healthz on their own ports; a killed one is replaced."""
    launcher = InProcLauncher(fake_server=fakeredis.FakeServer(), graceful_timeout=5)
    cluster = Cluster(launcher, WallClock(), desired_count=2, stop_timeout_seconds=5)
    await cluster.start()
    try:
        await _wait_running(cluster, 2)
        async with httpx.AsyncClient() as http:
            for task in cluster.tasks:
                response = await http.get(f"{task.url}/healthz")
                assert response.status_code == 200
            victim = cluster.tasks[0]
            await cluster.kill_task(victim.task_id)
            await _wait_running(cluster, 2, without=victim.task_id)
            replacement = [t for t in cluster.tasks if t.task_id != victim.task_id][-1]
            assert (await http.get(f"{replacement.url}/healthz")).status_code == 200
        assert victim.status == "STOPPED"
        assert victim.exit_code == 137
        assert set(cluster.cpu_seconds()) == {t.task_id for t in cluster.tasks}
        assert all(seconds >= 0 for seconds in cluster.cpu_seconds().values())
    finally:
        await cluster.shutdown()
    assert cluster.tasks == []


async def _wait_running(cluster: Cluster, count: int, without: str | None = None) -> None:
    def ready() -> bool:
        running = [t for t in cluster.tasks if t.status == "RUNNING" and t.task_id != without]
        return len(running) == count

    await settle(ready, rounds=100_000)

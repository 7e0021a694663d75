"""OS-process workers: `python -m chat` per task, real signals, real PIDs, measured CPU."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import httpx
import psutil
import pytest

from emulator.clock import WallClock
from emulator.cluster import Cluster, ProcessLauncher
from emulator.cluster.task import REASON_EXITED


@pytest.fixture
async def cluster(shared_redis_url: str, key_prefix: str) -> AsyncIterator[Cluster]:
    launcher = ProcessLauncher(redis_url=shared_redis_url, key_prefix=key_prefix, start_timeout=30)
    cluster = Cluster(launcher, WallClock(), desired_count=1, stop_timeout_seconds=10)
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.shutdown(force=True)


async def wait_for(predicate: object, timeout: float = 30.0) -> None:
    assert callable(predicate)
    async with asyncio.timeout(timeout):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.05)


def running(cluster: Cluster) -> list[object]:
    return [t for t in cluster.tasks if t.status == "RUNNING"]


@pytest.mark.slow
async def test_sigkilled_worker_is_replaced_and_sigterm_stops_cleanly(cluster: Cluster) -> None:
    """SIGKILL a worker: the task stops with ECS's reason and a new process serves; shutdown leaves none."""
    await wait_for(lambda: len(running(cluster)) == 1)
    [first] = cluster.tasks
    assert first.pid is not None
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{first.url}/healthz")).status_code == 200
        assert cluster.cpu_seconds()[first.task_id] > 0  # the interpreter's start-up alone costs CPU
        os.kill(first.pid, signal.SIGKILL)
        await wait_for(lambda: first.status == "STOPPED" and len(running(cluster)) == 1)
        [second] = cluster.tasks
        assert (await http.get(f"{second.url}/healthz")).status_code == 200

    assert first.stopped_reason is not None and first.stopped_reason.startswith(REASON_EXITED)
    assert first.exit_code == -signal.SIGKILL
    assert second.pid != first.pid
    await cluster.shutdown()
    assert second.exit_code == 0  # SIGTERM: a graceful exit well within the stop timeout
    assert not psutil.pid_exists(second.pid or -1) or psutil.Process(second.pid).status() == "zombie"

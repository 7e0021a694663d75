"""OS-process workers: `python -m chat` per task with its revision's environment, real signals, measured CPU."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator

import httpx
import psutil
import pytest

from emulator.cluster import Cluster, ProcessLauncher
from emulator.ecs.model import Launch, Revision, Terminate

EIO_POLLING = "/socket.io/?EIO=4&transport=polling"
REVISION = Revision(
    "arn:aws:ecs:us-east-1:123456789012:task-definition/chat:2",
    # as chat-service.yml sets them: the ElastiCache endpoint exists only in moto; the emulator's Redis is used
    (("PORT", "3000"), ("REDIS_ENDPOINT", "chat.abc123.cache.amazonaws.com"), ("PING_INTERVAL", "3")),
)


@pytest.fixture
async def cluster(shared_redis_url: str, key_prefix: str) -> AsyncIterator[Cluster]:
    cluster = Cluster(ProcessLauncher(redis_url=shared_redis_url, key_prefix=key_prefix, start_timeout=30))
    try:
        yield cluster
    finally:
        await cluster.close()


async def wait_for(predicate: object, timeout: float = 30.0) -> None:
    assert callable(predicate)
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def started(cluster: Cluster, task_id: str, revision: Revision = REVISION) -> str:
    """Launch a task, wait for its start to end; its own URL."""
    cluster.execute(Launch(task_id, revision))
    await wait_for(lambda: cluster.reports()[task_id].started or cluster.reports()[task_id].exited)
    endpoint = cluster.endpoint(task_id)
    assert endpoint is not None, cluster.reports()[task_id]
    return f"http://{endpoint[0]}:{endpoint[1]}"


@pytest.mark.slow
async def test_a_process_worker_runs_its_revision_and_reports_real_exits(cluster: Cluster) -> None:
    """The revision's PING_INTERVAL reaches the process (its Engine.IO handshake says 3 s); SIGTERM is a clean
    exit 0, a fault's SIGKILL is reported as the signal; the PIDs and CPU are the processes' own."""
    first_url, second_url = await started(cluster, "first"), await started(cluster, "second")
    first_pid, second_pid = cluster.pid("first"), cluster.pid("second")
    assert first_pid is not None and second_pid is not None and first_pid != second_pid
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{first_url}/healthz")).status_code == 200
        response = await http.get(f"{second_url}{EIO_POLLING}")
        assert json.loads(response.text[1:])["pingInterval"] == 3000
    assert cluster.cpu_seconds()["first"] > 0  # the interpreter's start-up alone costs CPU

    cluster.kill_worker("first")
    cluster.execute(Terminate("second"))
    await wait_for(lambda: all(r.exited for r in cluster.reports().values()))

    assert cluster.reports()["first"].exit_code == -signal.SIGKILL
    assert cluster.reports()["second"].exit_code == 0  # a graceful exit
    assert cluster.cpu_seconds() == {}
    for pid in (first_pid, second_pid):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.slow
async def test_a_revision_the_worker_refuses_is_a_start_error(cluster: Cluster) -> None:
    """`python -m chat` exits 2 on a bad setting before it listens: the task's start error, with that code."""
    bad = Revision("arn:aws:ecs:us-east-1:123456789012:task-definition/chat:3", (("PING_TIMEOUT", "soon"),))
    cluster.execute(Launch("bad", bad))
    await wait_for(lambda: cluster.reports()["bad"].exited)

    report = cluster.reports()["bad"]
    assert report.start_error is not None and "exited with code 2" in report.start_error
    assert report.exit_code == 2 and not report.started


@pytest.mark.slow
async def test_close_kills_a_worker_still_starting(cluster: Cluster) -> None:
    """The safety net at shutdown: a process caught in its start is SIGKILLed, not left behind."""
    cluster.execute(Launch("starting", REVISION))
    await wait_for(lambda: cluster.pid("starting") is not None)
    pid = cluster.pid("starting")
    assert pid is not None
    await cluster.close()

    assert cluster.reports()["starting"].exited
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

"""In-process workers: real ChatWorkers on one shared embedded Redis, CPU split by connections."""

from __future__ import annotations

import json
from types import SimpleNamespace

import fakeredis
import httpx

from emulator.cluster import Cluster
from emulator.cluster.inproc import InProcLauncher, SharedCpuMeter
from emulator.ecs.model import Launch, Revision

from .fakes import settle

EIO_POLLING = "/socket.io/?EIO=4&transport=polling"
# chat-service.yml's environment: an ElastiCache endpoint that exists only in moto, and a Redis required
ENVIRONMENT = (
    ("PORT", "3000"),
    ("REDIS_ENDPOINT", "chat.abc123.cache.amazonaws.com"),
    ("REDIS_PORT", "6379"),
    ("REDIS_TLS", "true"),
    ("CHAT_REQUIRE_REDIS", "true"),
    ("PING_INTERVAL", "2"),
    ("PING_TIMEOUT", "3"),
)


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


async def test_inproc_workers_run_their_revisions_settings_on_the_shared_redis() -> None:
    """Each in-process worker runs its revision's settings (the Engine.IO handshake says pingInterval 2 s), on
    the shared embedded Redis whatever Redis the revision names; a killed one is reported with 137."""
    launcher = InProcLauncher(fake_server=fakeredis.FakeServer(), graceful_timeout=5)
    cluster = Cluster(launcher)
    revision = Revision("arn:aws:ecs:us-east-1:123456789012:task-definition/chat:2", ENVIRONMENT)
    try:
        for task_id in ("a", "b"):
            cluster.execute(Launch(task_id, revision))
        await settle(lambda: all(r.started or r.exited for r in cluster.reports().values()), rounds=100_000)
        assert all(r.started for r in cluster.reports().values()), cluster.reports()
        async with httpx.AsyncClient() as http:
            for task_id in ("a", "b"):
                assert (await http.get(f"{url(cluster, task_id)}/healthz")).status_code == 200
                assert (
                    handshake(await http.get(f"{url(cluster, task_id)}{EIO_POLLING}"))["pingInterval"] == 2000
                )
        cluster.kill_worker("a")
        await settle(lambda: cluster.reports()["a"].exited, rounds=100_000)

        assert cluster.reports()["a"].exit_code == 137
        assert set(cluster.cpu_seconds()) == {"b"}
        assert cluster.cpu_seconds()["b"] >= 0
    finally:
        await cluster.close()
    assert all(r.exited for r in cluster.reports().values())


async def test_a_revision_with_a_bad_setting_fails_to_start() -> None:
    """The worker's own configuration check, as `python -m chat` would refuse it, is the task's start error."""
    cluster = Cluster(InProcLauncher(fake_server=fakeredis.FakeServer()))
    revision = Revision(
        "arn:aws:ecs:us-east-1:123456789012:task-definition/chat:3", (("PING_INTERVAL", "-1"),)
    )
    cluster.execute(Launch("a", revision))
    await settle(lambda: cluster.reports()["a"].exited, rounds=1000)
    await cluster.close()

    error = cluster.reports()["a"].start_error
    assert error is not None and "PING_INTERVAL" in error


def url(cluster: Cluster, task_id: str) -> str:
    endpoint = cluster.endpoint(task_id)
    assert endpoint is not None
    return f"http://{endpoint[0]}:{endpoint[1]}"


def handshake(response: httpx.Response) -> dict[str, object]:
    """The Engine.IO OPEN packet: "0" then the session's settings as JSON."""
    assert response.status_code == 200 and response.text.startswith("0"), response.text
    settings: dict[str, object] = json.loads(response.text[1:])
    return settings

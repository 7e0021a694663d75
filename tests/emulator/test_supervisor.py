"""The wired deployment: templates in moto, workers behind the sticky proxy, counts kept true.

Emulated time runs 20x faster (ScaledClock): the template's 6 s health checks take 0.3 s, the 30 s
deregistration delay 1.5 s, so each scenario takes seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.alb import TargetState
from emulator.ecs.model import TaskState
from emulator.supervisor import Emulator, EmulatorConfig
from support.chat_client import ChatClient

SCALE = 20.0


async def eventually(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.05)


def healthy(emulator: Emulator) -> list[str]:
    return [t.target_id for t in emulator.target_group.describe() if t.state is TargetState.HEALTHY]


async def started(tmp_path: Path, **overrides: Any) -> Emulator:
    config = EmulatorConfig(
        **{"workers": 2, "port": 0, "time_scale": SCALE, "state_file": tmp_path / "state.json", **overrides}
    )
    emulator = Emulator(config)
    try:
        await emulator.start()
        await eventually(lambda: len(healthy(emulator)) == config.workers)
    except BaseException:
        await emulator.shutdown(force=True)
        raise
    return emulator


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    emulator = await started(tmp_path)
    yield emulator
    await emulator.shutdown(force=True)


def lb_url(emulator: Emulator) -> str:
    return emulator.load_balancer.url


def live_tasks(emulator: Emulator) -> list[TaskState]:
    """The tasks not yet STOPPED, as the ECS scheduler last wrote them into the account."""
    status = emulator.loop.status
    return [t for t in status.tasks if t.last_status != "STOPPED"] if status else []


def connections_by_task(emulator: Emulator) -> dict[str, int | None]:
    return {t.task_id: emulator.cluster.open_connections(t.task_id) for t in live_tasks(emulator)}


async def test_two_clients_land_on_different_workers_stay_and_chat(emulator: Emulator) -> None:
    """Separate cookie jars, polling first: round robin spreads them, stickiness keeps them, Redis joins them."""
    alice, bob = ChatClient("alice"), ChatClient("bob")
    try:
        await alice.connect(lb_url(emulator))
        await bob.connect(lb_url(emulator))
        await alice.login()
        await bob.login()
        await alice.say("hello from the other worker")
        message = await bob.wait_for("new message")

        assert message == {"username": "alice", "message": "hello from the other worker"}
        assert alice.sio.transport() == "websocket" and bob.sio.transport() == "websocket"
        assert sorted(c or 0 for c in connections_by_task(emulator).values()) == [1, 1]
    finally:
        await alice.close()
        await bob.close()


async def test_moto_counts_follow_the_workers_and_desired_count_changes(tmp_path: Path) -> None:
    """update-service --desired-count 3 against moto starts a third worker; moto's counts say so.

    Autoscaling off: with idle workers the low alarm would (rightly) scale the service back in.
    """
    emulator = await started(tmp_path, autoscaling=False)
    try:
        await _desired_count_three(emulator)
    finally:
        await emulator.shutdown(force=True)


async def _desired_count_three(emulator: Emulator) -> None:
    ecs = emulator.account.client("ecs")
    names = {"cluster": emulator.service.cluster_name, "services": [emulator.service.service_name]}
    ecs.update_service(
        cluster=emulator.service.cluster_name, service=emulator.service.service_name, desiredCount=3
    )
    await eventually(lambda: len(healthy(emulator)) == 3)

    def moto_counts() -> tuple[int, int, int]:
        svc = ecs.describe_services(**names)["services"][0]
        return svc["desiredCount"], svc["runningCount"], svc["pendingCount"]

    await eventually(lambda: moto_counts() == (3, 3, 0))


async def test_status_reports_targets_counts_and_alarms(emulator: Emulator) -> None:
    """The admin endpoint answers with targets (worker URLs, health), counts and alarm states."""
    async with httpx.AsyncClient() as http:
        status = (await http.get(f"{emulator.deployment.admin.url}/status")).json()

    assert status["service"]["desired_count"] == 2
    assert status["service"]["running_count"] == 2
    assert {t["state"] for t in status["targets"]} == {"healthy"}
    running = [t for t in status["tasks"] if t["last_status"] == "RUNNING"]
    assert {t["url"] for t in status["targets"]} == {t["url"] for t in running}
    assert status["service"]["deployments"][0]["rollout_state"] == "COMPLETED"
    assert status["alarms"], "the template's CPU alarms are deployed into moto"
    assert all(a["state"] in ("OK", "ALARM", "INSUFFICIENT_DATA") for a in status["alarms"])


@pytest.mark.parametrize("switch", [{"stickiness": False}, {"drop_cookies": True}])
async def test_without_stickiness_polling_fails_but_websocket_works(tmp_path: Path, switch: Any) -> None:
    """The article's warning: without sticky cookies a polling session hits the other worker -> 400."""
    emulator = await started(tmp_path, **switch)
    try:
        url = lb_url(emulator)
        status = await emulator.status()
        assert status["stickiness_enabled"] is ("stickiness" not in switch)  # status says what the ALB does
        async with httpx.AsyncClient(base_url=url) as http:
            statuses = []
            for _ in range(4):  # handshake then polls: round robin sends some to the other worker
                handshake = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
                sid = handshake.text.split('"sid":"')[1].split('"')[0]
                poll = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling", "sid": sid})
                statuses.append((poll.status_code, poll.text))
        # python-engineio words the JS server's "Session ID unknown" as "Invalid session <sid>"
        assert any(code == 400 and "Invalid session" in text for code, text in statuses), statuses

        client = ChatClient("ws-only")
        try:
            await client.connect(url, transports=["websocket"])
            assert (await client.login())["ok"] is True
        finally:
            await client.close()
    finally:
        await emulator.shutdown(force=True)


async def test_deregistered_target_drains_then_its_clients_move(emulator: Emulator) -> None:
    """Scale-in by update-service: the task's target drains (no new requests, the WebSocket stays), closes at the
    delay's end; the task is DEACTIVATING meanwhile and only then gets SIGTERM."""
    clients = [ChatClient(f"drained-{i}", reconnection=True) for i in range(2)]
    try:
        for client in clients:  # separate cookie jars: round robin puts one on each task
            await client.connect(lb_url(emulator), transports=["websocket"])
        await eventually(lambda: sorted(n or 0 for n in connections_by_task(emulator).values()) == [1, 1])
        service = emulator.service
        emulator.account.client("ecs").update_service(
            cluster=service.cluster_name, service=service.service_name, desiredCount=1
        )
        tg = emulator.target_group
        await eventually(lambda: any(t.state is TargetState.DRAINING for t in tg.describe()))
        [home] = [t.target_id for t in tg.describe() if t.state is TargetState.DRAINING]
        assert {t.task_id: t.last_status for t in live_tasks(emulator)}[home] == "DEACTIVATING"

        async with httpx.AsyncClient() as http:  # new requests all go to the other target
            for _ in range(4):
                assert (await http.get(f"{lb_url(emulator)}/healthz")).status_code == 200
        assert all(client.sio.connected for client in clients)
        assert tg.describe([home])[0].open_connections == 1

        await eventually(lambda: tg.state(home) is TargetState.UNUSED)
        await eventually(lambda: home not in connections_by_task(emulator))
        await eventually(lambda: all(client.sio.connected for client in clients))
        await eventually(lambda: sum(n or 0 for n in connections_by_task(emulator).values()) == 2)
        stopped = next(t for t in emulator.loop.status.tasks if t.task_id == home)  # type: ignore[union-attr]
        assert stopped.last_status == "STOPPED" and stopped.stopped_reason is not None
        assert "Scaling activity initiated by" in stopped.stopped_reason
    finally:
        for client in clients:
            await client.close()


@pytest.mark.slow
async def test_sigkilled_worker_process_is_deregistered_and_replaced(
    tmp_path: Path, shared_redis_url: str
) -> None:
    """process isolation: SIGKILL one worker; ECS stops the task ("Essential container in task exited"),
    deregisters its target and starts a replacement, which gets new clients."""
    emulator = await started(tmp_path, isolation="process", redis_url=shared_redis_url)
    transitions: list[tuple[str, TargetState]] = []
    emulator.target_group.subscribe(lambda tid, old, new: transitions.append((tid, new)))
    clients: list[ChatClient] = []
    try:
        victim = live_tasks(emulator)[0]
        pid = emulator.cluster.pid(victim.task_id)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda: (victim.task_id, TargetState.DRAINING) in transitions)  # deregistered
        await eventually(lambda: len(healthy(emulator)) == 2 and victim.task_id not in healthy(emulator))
        [replacement] = [t for t in live_tasks(emulator) if t.task_id != victim.task_id][-1:]
        stopped = next(t for t in emulator.loop.status.tasks if t.task_id == victim.task_id)  # type: ignore[union-attr]
        assert stopped.stopped_reason is not None
        assert stopped.stopped_reason.startswith("Essential container in task exited")
        for name in ("c1", "c2", "c3"):
            client = ChatClient(name)
            clients.append(client)
            await client.connect(lb_url(emulator))
        tg = emulator.target_group
        await eventually(lambda: tg.describe([replacement.task_id])[0].open_connections > 0)
    finally:
        for client in clients:
            await client.close()
        await emulator.shutdown(force=True)


async def test_scaling_activity_overwrites_a_users_desired_count(tmp_path: Path) -> None:
    """As on AWS: update-service sets 4, the idle workers' low alarm scales in from there, -1 at a time."""
    emulator = await started(tmp_path, time_scale=60.0)
    try:
        emulator.account.client("ecs").update_service(
            cluster=emulator.service.cluster_name, service=emulator.service.service_name, desiredCount=4
        )
        # no waiting for 4 healthy tasks: at 60x the idle service may scale in before the new ones pass checks
        autoscaler = emulator.loop.autoscaler
        await eventually(lambda: any(a.from_capacity == 4 for a in autoscaler.activities), timeout=30)
        activity = next(a for a in autoscaler.activities if a.from_capacity == 4)
        # -1 from ECS's runningCount (the policy's base), which is 4, or 3 while a new task is still starting
        assert activity.to_capacity in (2, 3)
        assert activity.cause in autoscaler.alarm_states  # one of the template's alarms, not the user
        await eventually(lambda: emulator.account.read_service().desired_count <= 3)
        ecs = emulator.account.client("ecs")
        service = emulator.service
        described = ecs.describe_services(cluster=service.cluster_name, services=[service.service_name])
        assert described["services"][0]["desiredCount"] <= 3  # the AWS API says what the loop did
    finally:
        await emulator.shutdown(force=True)


async def test_stop_task_through_the_api_stops_the_worker_and_the_service_replaces_it(
    emulator: Emulator,
) -> None:
    """`aws ecs stop-task`: the answer says STOPPED-to-be with the reason; the scheduler drains the task's target,
    stops its worker, and starts a replacement."""
    service, ecs = emulator.service, emulator.account.client("ecs")
    [victim, _] = ecs.list_tasks(cluster=service.cluster_name, serviceName=service.service_name)["taskArns"]
    answer = ecs.stop_task(cluster=service.cluster_name, task=victim, reason="testing a replacement")
    assert answer["task"]["desiredStatus"] == "STOPPED"
    assert answer["task"]["stoppedReason"] == "testing a replacement"
    victim_id = victim.split("/")[-1]

    def stopped() -> bool:
        found = ecs.describe_tasks(cluster=service.cluster_name, tasks=[victim])["tasks"]
        return bool(found) and found[0]["lastStatus"] == "STOPPED"

    await eventually(stopped)
    [described] = ecs.describe_tasks(cluster=service.cluster_name, tasks=[victim])["tasks"]
    assert (described["stoppedReason"], described["stopCode"]) == ("testing a replacement", "UserInitiated")
    await eventually(lambda: len(healthy(emulator)) == 2 and victim_id not in healthy(emulator))
    running = ecs.list_tasks(cluster=service.cluster_name, serviceName=service.service_name)["taskArns"]
    assert len(running) == 2 and victim not in running


def test_the_state_file_is_per_user_and_per_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two users, or two emulators of one user, never overwrite each other's state file; `status` without
    options finds the user's one running emulator."""
    from emulator.supervisor import default_state_file

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    a, b = default_state_file(8080), default_state_file(9090)
    assert a != b and str(os.getuid()) in a.name and a.parent == tmp_path
    assert default_state_file() == a  # none running: the default port's
    b.write_text("{}")
    assert default_state_file() == b  # the only one running
    a.write_text("{}")
    assert default_state_file() == a  # several: the default port's (status --state-file picks another)

"""`chat-emulator chaos` as a user runs it: each scenario, short, against its own emulated deployment (OS-process
workers, a private redis-server, the sticky load balancer), and no acked message lost; the exit status."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import missing

from emulator.chaos.driver import ChaosSettings
from emulator.chaos.ledger import Ledger
from emulator.chaos.report import ClientRecord, build_report
from emulator.chaos.scenarios import SCENARIOS
from emulator.cli import main
from emulator.commands import chaos as chaos_command

NODE_MODULES = Path(__file__).resolve().parents[2] / "js" / "node_modules"
# emulated control plane 10x faster (health checks, the 30 s deregistration delay, the stop timeout); the
# workers, their heartbeats and the clients run in real time
SHORT = ["--time-scale", "10", "--workers", "3", "--senders", "2", "--receivers", "4", "--rate", "5"]
SHORT += ["--before", "1", "--after", "1", "--settle", "1.5"]


def chaos(
    capsys: pytest.CaptureFixture[str], *args: str, short: list[str] = SHORT
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["chaos", *args, *short, "--json"])
    out = capsys.readouterr().out
    assert out, f"no report (exit status {code})"
    report: dict[str, Any] = json.loads(out)
    return code, report


def need_redis_server() -> None:
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed")


def assert_nothing_acked_lost(code: int, report: dict[str, Any]) -> dict[str, Any]:
    tally: dict[str, Any] = report["tally"]
    assert tally["lost"] == 0, f"lost: {tally['lost_samples']}; timeline {report['timeline']}"
    assert code == 0 and report["ok"] is True
    assert tally["acked"] > 10 and tally["delivered"] == tally["acked"]
    assert tally["duplicated"] == 0 and tally["out_of_order"] == 0
    assert tally["refused"] == 0, f"final refusals: {tally['refusal_samples']}"
    assert tally["owed"] > 0 and report["never_back"] == 0
    return tally


@pytest.mark.slow
def test_kill_task(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = chaos(capsys, "kill-task")
    assert_nothing_acked_lost(code, report)
    killed = report["timeline"][1]["event"]
    assert killed.startswith("SIGKILL task"), report["timeline"]
    assert report["disconnected"] >= 1 and report["moved"] == report["disconnected"]
    assert report["recovered"] >= report["disconnected"] and report["not_recovered"] == 0
    assert report["back_after_s"] is not None and report["storm_connections"] >= report["disconnected"]
    assert len(report["tasks_after"]) >= 2 and killed.split()[2] not in report["tasks_after"]


@pytest.mark.slow
def test_kill_all(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = chaos(capsys, "kill-all")
    assert_nothing_acked_lost(code, report)
    assert report["disconnected"] == report["clients"] == report["moved"]
    assert report["not_recovered"] == 0  # Redis kept the sessions: every client recovers on a new task
    assert not set(report["tasks_before"]) & set(report["tasks_after"])
    assert report["storm_peak_per_s"] >= 1


@pytest.mark.slow
def test_freeze_task(capsys: pytest.CaptureFixture[str]) -> None:
    """At --time-scale 10 the frozen task fails its health checks and is replaced (SIGTERM, then SIGKILL after
    the stop timeout) before its SIGCONT: its clients move to the other tasks."""
    code, report = chaos(capsys, "freeze-task", "--seconds", "6")
    assert_nothing_acked_lost(code, report)
    events = [e["event"] for e in report["timeline"]]
    assert events[1].startswith("SIGSTOP task") and "for 6 s" in events[1]
    assert events[2].startswith(("SIGCONT task", "task ")), events  # gone already: replaced as unhealthy
    assert report["disconnected"] >= 1 and report["not_recovered"] == 0


@pytest.mark.slow
def test_freeze_task_until_unhealthy_then_continued(capsys: pytest.CaptureFixture[str]) -> None:
    """Real time, a 1 s + 2 s heartbeat: the clients give the frozen task up after 3 s, its target turns unhealthy
    (two 6 s health checks), and at SIGCONT the task's clients recover on it, its stream reader 14 s behind."""
    capsys.readouterr()
    argv = [
        "chaos",
        "freeze-task",
        "--seconds",
        "14",
        "--param",
        "PingInterval=1",
        "--param",
        "PingTimeout=2",
    ]
    argv += ["--workers", "3", "--senders", "2", "--receivers", "4", "--rate", "5"]
    code = main([*argv, "--before", "1", "--after", "1", "--settle", "1.5", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["disconnected"] >= 1 and report["recovered"] >= report["disconnected"], report["timeline"]
    assert report["tally"]["duplicated"] == 0, f"duplicates: {report['tally']['duplicate_samples']}"
    assert_nothing_acked_lost(code, report)


@pytest.mark.slow
@pytest.mark.redis
def test_restart_redis(capsys: pytest.CaptureFixture[str]) -> None:
    need_redis_server()
    code, report = chaos(capsys, "restart-redis")
    assert_nothing_acked_lost(code, report)
    events = [e["event"] for e in report["timeline"]]
    assert events[1].startswith("stopped private redis-server") and events[2].endswith(", empty")
    assert events[1].split(" on ")[1] == events[2].split(" on ")[1].split(",")[0]  # the same address


@pytest.mark.slow
@pytest.mark.redis
def test_stop_redis(capsys: pytest.CaptureFixture[str]) -> None:
    need_redis_server()
    # in real time: 3 s is less than two failed health checks, so this is an outage the tasks ride out (at
    # --time-scale 10 it is 30 emulated seconds: every task fails its checks and ECS replaces them all)
    real_time = SHORT.copy()
    real_time[real_time.index("--time-scale") + 1] = "1"
    code, report = chaos(capsys, "stop-redis", "--seconds", "3", short=real_time)
    assert_nothing_acked_lost(code, report)
    assert "for 3 s" in report["timeline"][1]["event"]
    # an ack means Redis has the message: none can come while Redis is down
    assert report["acks_paused_s"] >= 2.5


@pytest.mark.slow
def test_scale_in(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = chaos(capsys, "scale-in")
    assert_nothing_acked_lost(code, report)
    events = [e["event"] for e in report["timeline"]]
    assert events[1] == "desired count 3 -> 2 (ECS UpdateService)"
    assert "drained and stopped (Scaling activity initiated by" in events[2]
    assert len(report["tasks_after"]) == 2 and report["moved"] >= 1 and report["not_recovered"] == 0


@pytest.mark.slow
def test_the_official_client_receives_every_acked_message_through_a_kill(
    capsys: pytest.CaptureFixture[str],
) -> None:
    if shutil.which("node") is None:
        missing("node is not installed (the official Socket.IO client runs in Node)")
    if not (NODE_MODULES / "socket.io-client").is_dir():
        missing("socket.io-client is not installed: run `npm ci --prefix tests/js`")
    code, report = chaos(capsys, "kill-all", "--official-receivers", "2", "--node-modules", str(NODE_MODULES))
    assert_nothing_acked_lost(code, report)
    assert report["official_clients"] == 2 and report["clients"] == 2 + 4 + 2
    assert report["disconnected"] == report["clients"] and report["not_recovered"] == 0


@pytest.mark.slow
def test_rolling_deployment(capsys: pytest.CaptureFixture[str]) -> None:
    """Every task replaced by a forced new deployment while clients chat: each client moves once, nothing acked
    is lost, and the service keeps minimumHealthyPercent healthy throughout (the scheduler's rule)."""
    code, report = chaos(capsys, "rolling-deployment")
    assert_nothing_acked_lost(code, report)
    events = [e["event"] for e in report["timeline"]]
    assert events[1].startswith("new deployment ecs-svc/") and "COMPLETED: 3 of 3 tasks replaced" in events[2]
    assert len(report["tasks_after"]) == 3 and report["not_recovered"] == 0


def test_every_scenario_is_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chaos", "--list"]) == 0
    listed = capsys.readouterr().out
    assert [line.split()[0] for line in listed.splitlines()] == list(SCENARIOS)
    assert "not available yet" not in listed


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chaos"]) == 2
    assert main(["chaos", "kill-task", "--senders", "0"]) == 2
    assert "--senders" in capsys.readouterr().err


def lossy_report() -> Any:
    """A real ledger in which one acked message never reached one receiver."""
    ledger = Ledger("t")
    for name in ("s0", "r0", "r1"):
        ledger.receiver(name).session_started(0.0, recovered=False)
    for seq in range(3):
        message = ledger.new_message("s0", seq)
        ledger.attempt(message.message_id, 1.0 + seq)
        ledger.acked(message.message_id, 1.1 + seq)
        ledger.received("r0", message.text)
        if seq != 1:
            ledger.received("r1", message.text)
    return build_report(
        scenario=SCENARIOS["kill-task"],
        settings=ChaosSettings(),
        seconds=0.0,
        tally=ledger.tally(),
        acked_at=[1.1, 2.1, 3.1],
        records=[ClientRecord(name) for name in ("s0", "r0", "r1")],
        task_of=lambda sticky: None,
        samples=[],
        timeline=[(0.0, "3 clients logged in; senders start"), (1.5, "senders stop")],
        origin=0.0,
        fault_at=1.0,
        senders_stopped=1.5,
        end=5.0,
        deployment={},
    )


@pytest.mark.parametrize("as_json", [False, True])
def test_exit_status_is_1_when_an_acked_message_was_lost(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    async def lossy(args: argparse.Namespace, settings: ChaosSettings) -> Any:
        return lossy_report()

    monkeypatch.setattr(chaos_command, "chaos", lossy)
    assert main(["chaos", "kill-task", *(["--json"] if as_json else [])]) == 1
    out = capsys.readouterr().out
    if as_json:
        report = json.loads(out)
        assert report["ok"] is False and report["tally"]["lost"] == 1
        assert report["tally"]["lost_samples"][0]["missing_at"] == ["r1"]
    else:
        assert "lost        t.s0.1 (acked at 2.10 s) never reached r1" in out
        assert "FAILED: 1 acked messages lost" in out

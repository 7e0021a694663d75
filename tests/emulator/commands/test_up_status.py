"""`chat-emulator up` as a user runs it, then `status --json`; Ctrl+C leaves no process behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import websocket
from rich.console import Console

from emulator.cli import main
from emulator.commands.status import render
from support.polling import wait_until
from support.workers import stop_process_tree

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    state = tmp_path / "state.json"
    argv = [sys.executable, "-m", "emulator.cli", "up", "--port", "0", "--workers", "2"]
    argv += ["--isolation", "process", "--time-scale", "20", "--state-file", str(state)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield proc, state
    finally:
        stop_process_tree(proc)


def status_json(state: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any] | None:
    if not state.exists():
        return None
    capsys.readouterr()
    if main(["status", "--json", "--state-file", str(state)]) != 0:
        return None
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


@pytest.mark.slow
def test_up_then_status_then_ctrl_c(up: tuple[subprocess.Popen[bytes], Path], capsys: Any) -> None:
    """status --json shows both workers healthy and the counts; SIGINT stops every child process."""
    proc, state = up

    def two_healthy() -> dict[str, Any] | None:
        status = status_json(state, capsys)
        healthy = [t for t in (status or {}).get("targets", []) if t["state"] == "healthy"]
        return status if len(healthy) == 2 else None

    status = wait_until(two_healthy)
    children = psutil.Process(proc.pid).children(recursive=True)

    assert status["service"]["desired_count"] == 2
    assert status["service"]["running_count"] == 2
    assert status["service"]["pending_count"] == 0
    assert status["service"]["moto"] == {"desiredCount": 2, "runningCount": 2, "pendingCount": 0}
    assert status["cpu_attribution"].startswith("process")
    worker_pids = {t["pid"] for t in status["tasks"]}
    assert worker_pids <= {c.pid for c in children}
    assert len(children) >= 3  # two workers and the private Redis

    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=60)[0].decode()

    assert proc.returncode == 0, output
    assert "Load balancer:" in output
    endpoint = status["endpoint_url"]
    assert f"export AWS_ENDPOINT_URL={endpoint} AWS_DEFAULT_REGION=us-east-1" in output  # for the AWS CLI
    assert "Note: autoscaling is on" in output  # --workers 2 with the template's alarms running
    [logs] = [line.split(None, 2)[2] for line in output.splitlines() if line.startswith("Worker logs:")]
    assert not Path(logs).exists()  # a clean stop removes the workers' log folder
    assert "Traceback" not in output and "ERROR" not in output
    assert [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []
    assert not state.exists()


@pytest.mark.slow
def test_second_ctrl_c_forces_past_the_drain(tmp_path: Path, capsys: Any) -> None:
    """With a WebSocket open, Ctrl+C waits out the 30 s deregistration delay; a second one forces, quietly: no
    traceback, no ERROR line (in-process workers, whose uvicorn lines go through the emulator's logging)."""
    state = tmp_path / "state.json"
    argv = [sys.executable, "-m", "emulator.cli", "up", "--port", "0", "--workers", "1", "--no-autoscaling"]
    stderr = tmp_path / "stderr.txt"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [*argv, "--state-file", str(state)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err
        )
    try:

        def healthy_target() -> dict[str, Any] | None:
            found = status_json(state, capsys)
            targets = (found or {}).get("targets") or [{}]
            return found if targets[0].get("state") == "healthy" else None

        status = wait_until(healthy_target)  # an ALB answers 503 until a target passes a health check
        ws_url = (
            status["load_balancer_url"].replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        )
        socket = websocket.create_connection(ws_url, timeout=10)
        try:
            wait_until(
                lambda: (status_json(state, capsys) or {}).get("targets", [{}])[0].get("open_connections")
            )
            proc.send_signal(signal.SIGINT)
            time.sleep(1.0)
            assert proc.poll() is None  # draining: the open WebSocket holds the target for the delay
            proc.send_signal(signal.SIGINT)
            assert proc.wait(15) == 0
        finally:
            socket.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = stderr.read_text()
    assert "Forcing shutdown" in text and "Traceback" not in text and " ERROR " not in text, text
    assert "Uvicorn running" not in text or "INFO uvicorn" in text  # uvicorn's own stderr handler is gone


def test_status_without_an_emulator_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No state file: a clear message and exit code 1."""
    code = main(["status", "--state-file", str(tmp_path / "missing.json")])

    assert code == 1
    assert "no running emulator" in capsys.readouterr().err


def test_status_renders_targets_counts_and_alarms() -> None:
    """The human view lists each target with its worker URL and health, the counts and the alarms."""
    status = {
        "load_balancer_url": "http://127.0.0.1:8080",
        "endpoint_url": "http://127.0.0.1:5000",
        "isolation": "inproc",
        "cpu_attribution": "inproc: split",
        "redis": "embedded fakeredis",
        "stickiness_enabled": True,
        "drop_cookies": False,
        "service": {
            "cluster_name": "chat",
            "service_name": "chat-svc",
            "desired_count": 2,
            "running_count": 1,
            "pending_count": 1,
            "moto": {"desiredCount": 2, "runningCount": 1, "pendingCount": 1},
        },
        "targets": [
            {
                "id": "abcdef0123456789",
                "url": "http://127.0.0.1:4001",
                "state": "unhealthy",
                "reason": "Target.FailedHealthChecks",
                "open_connections": 3,
                "in_flight_requests": 0,
            }
        ],
        "tasks": [{"task_id": "abcdef0123456789", "cpu_seconds": 1.5}],
        "alarms": [{"name": "chat-cpu-high", "state": "ALARM", "reason": ""}],
    }
    console = Console(width=120, color_system=None, force_terminal=False)
    with console.capture() as captured:
        render(status, console)
    text = captured.get()

    assert "desired 2, running 1, pending 1" in text
    assert "http://127.0.0.1:4001" in text and "unhealthy" in text and "1.50" in text
    assert "chat-cpu-high" in text and "ALARM" in text


def test_up_refuses_a_parameter_cloudformation_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["up", "--param", "ScalingMode=Bogus", "--port", "0", "--no-dashboard"])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        "chat-emulator up: ScalingMode=Bogus: not one of the AllowedValues" in err and "Traceback" not in err
    )

"""Live autoscaling inside `chat-emulator up`, end to end, at 60x time (one alarm period = one second).

Real chat traffic through the load balancer (`chat-emulator load`) drives a 0.25 vCPU worker over the
high alarm's 70 %; the service scales out, the new workers become healthy; the load stops, the low alarm
scales the service back in to MinCapacity and the removed workers drain. moto's describe_* answers
agree with `status --json` throughout.

Workaround, reported: the worker's broadcast reader does XREAD BLOCK 5000 ms on a redis-py 8 client
whose default socket_timeout is 5 s, so a stream idle for 5 s fails the read and /healthz answers 503
for half a second; at 60x the health checks (every 0.1 s) catch it and the worker is replaced. A
keep-alive client sends one message a second so the stream is never idle that long.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import socketio

from emulator.cli import main
from emulator.snapshot import read_moto
from support.polling import wait_until
from support.workers import stop_process_tree

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {
    "ContainerCpu": "256",  # 0.25 vCPU: a modest chat load is > 70 % of it
    "ContainerMemory": "512",  # a valid Fargate pairing with 256 CPU units
    "DesiredCount": "1",
    "MinCapacity": "1",
    "MaxCapacity": "3",
    "ScalingCooldown": "60",
    "DeregistrationDelay": "60",  # one second at 60x: long enough to see `draining`
}


class Watcher:
    """Polls `status --json` and keeps every snapshot."""

    def __init__(self, state: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.state, self.capsys = state, capsys
        self.seen: list[dict[str, Any]] = []

    def poll(self) -> dict[str, Any] | None:
        if not self.state.exists():
            return None
        self.capsys.readouterr()
        if main(["status", "--json", "--state-file", str(self.state)]) != 0:
            return None
        status: dict[str, Any] = json.loads(self.capsys.readouterr().out)
        self.seen.append(status)
        return status

    def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> dict[str, Any]:
        found: dict[str, Any] = wait_until(
            lambda: (s := self.poll()) is not None and predicate(s) and s, timeout, what
        )
        return found

    def alarm_states_seen(self, name: str) -> set[str]:
        return {a["state"] for s in self.seen for a in s["alarms"] if a["name"] == name}

    def target_states_seen(self, target_id: str) -> set[str]:
        return {t["state"] for s in self.seen for t in s["targets"] if t["id"] == target_id}


class KeepAlive:
    """One logged-in client sending a message a second (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.sio = socketio.Client(reconnection=True)
        self.sio.connect(url, transports=["websocket"])
        self.sio.emit("add user", "keepalive")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keepalive", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            if self.sio.connected:
                self.sio.emit("new message", "still here")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sio.disconnect()


@pytest.fixture
def emulator_up(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    state, log = tmp_path / "state.json", tmp_path / "up.log"
    argv = [sys.executable, "-m", "emulator.cli", "up", "--port", "0", "--isolation", "process"]
    argv += ["--time-scale", "60", "--no-dashboard", "--state-file", str(state)]
    for key, value in PARAMS.items():
        argv += ["--param", f"{key}={value}"]
    env = {**os.environ, "MESSAGE_RATE": "100", "MESSAGE_BURST": "200"}  # workers inherit it
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield state, log
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0, log.read_text()[-3000:]
    finally:
        stop_process_tree(proc)


def start_load(url: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "emulator.cli", "load", "--url", url, "--clients", "80", "--senders", "10"]
    argv += ["--rate", "20", "--duration", "40", "--warmup", "0", "--drain", "0", "--json"]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def moto_view(status: dict[str, Any]) -> dict[str, Any]:
    """What boto3 against the emulator's endpoint answers, shaped like `status --json`."""

    class Account:
        def client(self, name: str) -> Any:
            return boto3.client(  # type: ignore[call-overload]
                name,
                endpoint_url=status["endpoint_url"],
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

    service = status["service"]
    return read_moto(Account(), service["cluster_name"], service["service_name"])


def agrees(watcher: Watcher) -> bool:
    """status --json, then describe_*, then status again: when nothing moved, all three must agree."""
    before = watcher.poll()
    assert before is not None
    moto = moto_view(before)
    after = watcher.poll()
    assert after is not None
    if (before["service"], before["alarms"]) != (after["service"], after["alarms"]):
        return False  # a scaling minute passed in between: try again
    service = after["service"]
    assert moto["service"] == {
        "desiredCount": service["desired_count"],
        "runningCount": service["running_count"],
        "pendingCount": service["pending_count"],
    }
    assert moto["alarms"] == after["alarms"]
    assert {a["name"]: a["state"] for a in moto["alarms"]} == after["scaling"]["alarm_states"]
    assert moto["scalable_target"] == after["scaling"]["scalable_target"]
    assert (moto["scalable_target"]["min_capacity"], moto["scalable_target"]["max_capacity"]) == (1, 3)
    return True


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_chat_load_scales_out_and_back_in(
    emulator_up: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    state, log = emulator_up
    watcher = Watcher(state, capsys)
    first = watcher.until(
        lambda s: [t["state"] for t in s["targets"]] == ["healthy"], 60, "one healthy worker"
    )
    [original] = [t["id"] for t in first["targets"]]
    keepalive = KeepAlive(first["load_balancer_url"])
    load = start_load(first["load_balancer_url"])
    try:
        # Scale out: the high alarm fires, the desired count rises, new workers turn healthy.
        out = watcher.until(
            lambda s: (
                any(a["to"] > a["from"] for a in s["scaling"]["activities"])
                and sum(t["state"] == "healthy" and t["id"] != original for t in s["targets"]) >= 1
            ),
            45,
            "a scale-out activity and a new healthy worker",
        )
        [scale_out, *_] = [a for a in out["scaling"]["activities"] if a["to"] > a["from"]]
        assert scale_out["from"] == 1 and 1 < scale_out["to"] <= 3
        assert "ALARM" in watcher.alarm_states_seen(scale_out["cause"])
        assert max(s["service"]["desired_count"] for s in watcher.seen) > 1
        added = {t["id"] for s in watcher.seen for t in s["targets"]} - {original}
        assert added
        assert wait_until(lambda: agrees(watcher), 10, "moto agrees with status")
    finally:
        load.send_signal(signal.SIGINT)
        stop_process_tree(load)
    try:
        # Scale in: the low alarm brings the service back to MinCapacity; the added workers drain.
        watcher.until(
            lambda s: (
                s["service"]["desired_count"] == 1
                and s["service"]["running_count"] == 1
                and len(s["targets"]) == 1
                and any(a["to"] < a["from"] for a in s["scaling"]["activities"])
            ),
            45,
            "scale-in to MinCapacity",
        )
        final = watcher.seen[-1]
        scale_in = [a for a in final["scaling"]["activities"] if a["to"] < a["from"]]
        assert all("ALARM" in watcher.alarm_states_seen(a["cause"]) for a in scale_in)
        assert scale_in[-1]["to"] == 1
        text = log.read_text()
        removed = added - {t["id"] for t in final["targets"]}
        assert removed
        for target_id in removed:
            assert f"target {target_id}: healthy -> draining" in text
            # the load is gone: a target with no connection left is deregistered at once, else after the delay
            assert f"target {target_id} deregistered" in text
        assert wait_until(lambda: agrees(watcher), 10, "moto agrees with status")
    finally:
        keepalive.close()

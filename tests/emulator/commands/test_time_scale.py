"""`chat-emulator up --time-scale 60`: emulated AWS delays run fast, a live connection's timeouts do not.

The README's live-scaling recipe runs at `--time-scale 60`. The ALB's idle timeout (60 s) must stay 60 real
seconds there: scaled, it would be 1 s, shorter than the Engine.IO heartbeat (a ping every 4 real seconds),
and every idle WebSocket would be cut.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from support.polling import wait_until
from support.workers import stop_process_tree

ROOT = Path(__file__).resolve().parents[3]
IDLE_REAL_SECONDS = 9.0  # the idle timeout scaled by 60 would be 1 s; two 4 s Engine.IO heartbeats fit


def read_state(state: Path) -> dict[str, Any] | None:
    """What `up` wrote to its state file, once it has written it whole."""
    try:
        data: dict[str, Any] = json.loads(state.read_text())
    except (OSError, ValueError):
        return None
    return data


def status(state: Path) -> dict[str, Any] | None:
    """`status --json` for the emulator `state` points at, or None while it is not up yet."""
    if read_state(state) is None:
        return None
    argv = [sys.executable, "-m", "emulator.cli", "status", "--json", "--state-file", str(state)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=30, check=False)
    if done.returncode != 0:
        return None
    data: dict[str, Any] = json.loads(done.stdout)
    return data


@pytest.fixture
def up_at_60x(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state.json"
    argv = [sys.executable, "-m", "emulator.cli", "up", "--time-scale", "60", "--port", "0"]
    argv += ["--no-dashboard", "--state-file", str(state)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield state
    finally:
        stop_process_tree(proc)


@pytest.mark.slow
def test_an_idle_websocket_outlives_the_scaled_idle_timeout(up_at_60x: Path) -> None:
    """An idle Engine.IO WebSocket through the ALB stays open for 9 real seconds (9 emulated minutes)."""

    def healthy() -> dict[str, Any] | None:
        found = status(up_at_60x)
        targets = (found or {}).get("targets", [])
        return found if any(t["state"] == "healthy" for t in targets) else None

    url = wait_until(healthy)["load_balancer_url"]  # an ALB answers 503 until a target passes a health check
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    socket = websocket.create_connection(ws_url, timeout=10)
    try:
        opened = socket.recv()
        assert isinstance(opened, str) and opened.startswith("0"), opened  # Engine.IO open
        ping_interval = json.loads(opened[1:])["pingInterval"] / 1000
        assert 2 * ping_interval < IDLE_REAL_SECONDS, "the test needs two heartbeats within its idle time"
        socket.send("40")  # the Socket.IO namespace connect, as a browser sends it
        assert str(socket.recv()).startswith("40")
        pongs = 0
        deadline = time.monotonic() + IDLE_REAL_SECONDS
        while time.monotonic() < deadline:  # idle: only the server's pings and our pongs
            socket.settimeout(max(deadline - time.monotonic(), 0.1) + ping_interval)
            try:
                packet = socket.recv()
            except websocket.WebSocketConnectionClosedException:
                pytest.fail(f"the load balancer closed an idle WebSocket after {pongs} heartbeats")
            assert packet == "2", packet  # an Engine.IO ping; a close ("1") or anything else fails
            socket.send("3")
            pongs += 1
        assert pongs >= 2
        assert socket.connected
    finally:
        socket.close()

"""`ReconnectingClient` against a real `python -m chat` worker: acks, recovery after a dropped connection, the
reconnection backoff."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from emulator.loadgen.reconnecting import Backoff, NotConnected, ReconnectingClient
from support.workers import start_worker


def test_backoff_doubles_up_to_the_maximum_with_jitter() -> None:
    backoff = Backoff(initial_s=1.0, max_s=5.0, jitter=0.5)
    assert [backoff.delay(n, 0.5) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.delay(0, 0.0) == 0.5 and backoff.delay(0, 0.999999) == pytest.approx(1.5, abs=1e-5)
    assert backoff.delay(3, 0.999999) == 5.0  # never above the maximum


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []

    def session_started(self, client: ReconnectingClient, at: float, recovered: bool) -> None:
        self.events.append(("session", client.name, recovered))

    def connection_lost(self, client: ReconnectingClient, at: float, reason: str) -> None:
        self.events.append(("lost", client.name, reason))

    def message(self, client: ReconnectingClient, at: float, text: str) -> None:
        self.events.append(("message", client.name, text))


async def until(predicate: Any, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_a_dropped_client_reconnects_recovers_and_gets_what_it_missed() -> None:
    worker = start_worker(None, "rc")  # embedded Redis
    recorder = Recorder()
    quick = Backoff(initial_s=0.1, max_s=0.2)
    sender = ReconnectingClient("s", worker.url, recorder, username="rc-s", backoff=quick)
    receiver = ReconnectingClient("r", worker.url, recorder, username="rc-r", backoff=quick)
    runs = [asyncio.ensure_future(c.run()) for c in (sender, receiver)]
    try:
        await until(lambda: sender.connected and receiver.connected)
        assert (await sender.call("new message", "one", {"id": "m1"}, timeout=5))[0] == {"ok": True}
        await until(lambda: ("message", "r", "one") in recorder.events)
        pid = receiver.pid
        assert pid and receiver.offset

        ws = receiver._ws
        assert ws is not None
        ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)  # the network drops the connection
        await until(lambda: not receiver.connected)
        assert (await sender.call("new message", "two", {"id": "m2"}, timeout=5))[0] == {"ok": True}
        await until(lambda: receiver.connected)
        await until(lambda: ("message", "r", "two") in recorder.events)

        assert receiver.pid == pid and receiver.recovered == 1 and receiver.not_recovered == 0
        assert [e for e in recorder.events if e[1] == "r" and e[0] == "session"] == [
            ("session", "r", False),
            ("session", "r", True),
        ]
        resend = await sender.call("new message", "two", {"id": "m2"}, timeout=5)
        assert resend[0] == {"ok": True, "duplicate": True}
        await asyncio.sleep(0.3)
        assert [e[2] for e in recorder.events if e[:2] == ("message", "r")] == ["one", "two"]
    finally:
        await asyncio.gather(sender.close(), receiver.close())
        await asyncio.gather(*runs, return_exceptions=True)
        worker.stop()
    with pytest.raises(NotConnected):
        await sender.call("new message", "three", timeout=1)

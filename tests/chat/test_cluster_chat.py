"""Acceptance: two workers on one Redis behave as one chat (the article's two-tab test, automated).

Runs twice: two `python -m chat` processes on the machine's real Redis, and two in-process workers on one
embedded fakeredis server. Clients are python-socketio's, both long-polling-then-upgrade and WebSocket-only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import fakeredis
import pytest

from chat.config import Settings
from chat.server import ChatWorker
from support.chat_client import ChatClient
from support.workers import start_worker


@pytest.fixture(params=["processes-real-redis", "inproc-fakeredis"])
async def two_workers(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[tuple[str, str]]:
    if request.param == "processes-real-redis":
        url = request.getfixturevalue("shared_redis_url")
        procs = [start_worker(url, key_prefix), start_worker(url, key_prefix)]
        try:
            yield procs[0].url, procs[1].url
        finally:
            for proc in procs:
                proc.stop()
    else:
        server = fakeredis.FakeServer()
        settings = Settings(host="127.0.0.1", port=0, key_prefix=key_prefix)
        workers = [ChatWorker(settings, server), ChatWorker(settings, server)]
        for worker in workers:
            await worker.start()
        try:
            yield workers[0].url, workers[1].url
        finally:
            for worker in workers:
                await worker.stop(timeout=5)


@pytest.mark.parametrize("transports", [["polling", "websocket"], ["websocket"]], ids=["upgrade", "ws-only"])
async def test_clients_on_two_workers_see_each_other(
    two_workers: tuple[str, str], transports: list[str]
) -> None:
    url_a, url_b = two_workers
    alice, bob = ChatClient("alice"), ChatClient("bob")
    try:
        await alice.connect(url_a, transports)
        await bob.connect(url_b, transports)
        assert (await alice.login())["ok"]
        assert (await alice.wait_for("login")) == {"numUsers": 1}
        await bob.login()
        assert (await bob.wait_for("login")) == {"numUsers": 2}
        assert (await alice.wait_for("user joined")) == {"username": "bob", "numUsers": 2}

        assert (await alice.say("hello from A")) == {"ok": True}
        assert (await bob.wait_for("new message")) == {"username": "alice", "message": "hello from A"}
        await bob.say("hello from B")
        assert (await alice.wait_for("new message")) == {"username": "bob", "message": "hello from B"}
        assert alice.received("new message") == [{"username": "bob", "message": "hello from B"}]  # no echo

        await bob.sio.emit("typing")
        assert (await alice.wait_for("typing")) == {"username": "bob"}
        await bob.sio.emit("stop typing")
        assert (await alice.wait_for("stop typing")) == {"username": "bob"}

        if transports[0] == "polling":
            await asyncio.sleep(0.5)
        assert alice.sio.transport() == transports[-1]  # polling clients upgraded to WebSocket

        await bob.close()
        assert (await alice.wait_for("user left")) == {"username": "bob", "numUsers": 1}
    finally:
        await alice.close()
        await bob.close()


async def test_graceful_stop_sends_clients_elsewhere_and_they_recover(key_prefix: str) -> None:
    """SIGTERM (scale-in): clients are told to reconnect, recover on another worker with what they missed,
    and nobody sees them leave."""
    server = fakeredis.FakeServer()
    settings = Settings(host="127.0.0.1", port=0, key_prefix=key_prefix)
    stays, goes = ChatWorker(settings, server), ChatWorker(settings, server)
    await stays.start()
    await goes.start()
    alice, bob = ChatClient("alice"), ChatClient("bob", reconnection=True)
    try:
        await alice.connect(stays.url, ["websocket"])
        await bob.connect(goes.url, ["websocket"])
        await alice.login()
        await bob.login()
        await alice.wait_for("user joined")
        await alice.say("before the stop")
        await bob.wait_for("new message")
        bob.sio.connection_url = stays.url  # what the load balancer does: the next connection lands elsewhere
        await goes.stop(timeout=5)
        await alice.say("while bob moves")
        await bob.wait_for("new message", lambda d: d["message"] == "while bob moves", timeout=15)
        assert bob.sio.recovered, "bob's session should be recovered on the other worker"
        assert [m["message"] for m in bob.received("new message")] == ["before the stop", "while bob moves"]
        assert alice.received("user left") == []
        assert (await bob.say("bob is back"))["ok"] is True
        assert (await alice.wait_for("new message", lambda d: d["username"] == "bob"))[
            "message"
        ] == "bob is back"
    finally:
        await alice.close()
        await bob.close()
        await stays.stop(timeout=5)

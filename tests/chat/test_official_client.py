"""Acceptance (issue 7): the official Socket.IO JavaScript client, from the npm registry, against the chat.

It goes through the emulator's load balancer with its default transports (long-polling, then the WebSocket
upgrade, kept on one target by the `AWSALB` cookie), recovers its session on the surviving worker after its own
is SIGKILLed, and sends at least once with its documented `ackTimeout` + `retries` options while the chat drops
the retried duplicate. `tests/js/driver.mjs` runs the client in Node and reports every event as a JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import missing

from support.alb import Deployment, deployment
from support.chat_client import ChatClient

log = logging.getLogger(__name__)

JS_DIR = Path(__file__).resolve().parents[1] / "js"
DRIVER = JS_DIR / "driver.mjs"
FAST = {"MESSAGE_RATE": "1000", "MESSAGE_BURST": "1000"}
QUICK_RECONNECT = {"reconnectionDelay": 100, "reconnectionDelayMax": 500}

Event = dict[str, Any]


class OfficialClient:
    """socket.io-client in a Node process: JSON commands on its stdin, JSON events from its stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[Event] = []
        self.stderr: list[str] = []
        self._changed = asyncio.Event()
        self._readers = [
            asyncio.get_running_loop().create_task(self._read_events(), name=f"node-{process.pid}-stdout"),
            asyncio.get_running_loop().create_task(self._read_stderr(), name=f"node-{process.pid}-stderr"),
        ]
        for reader in self._readers:
            reader.add_done_callback(_log_end)

    async def _read_events(self) -> None:
        assert self.process.stdout is not None
        try:
            async for line in self.process.stdout:
                self.events.append(json.loads(line))
                self._changed.set()
        finally:
            self._changed.set()  # a waiter learns that no more events will come

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip())

    def send(self, cmd: str, **fields: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **fields}).encode() + b"\n")

    def of(self, event: str) -> list[Event]:
        return [e for e in self.events if e["event"] == event]

    def chat(self, name: str) -> list[Event]:
        return [e for e in self.of("chat") if e["name"] == name]

    def messages_from(self, username: str) -> list[str]:
        return [e["data"]["message"] for e in self.chat("new message") if e["data"]["username"] == username]

    async def wait_for(self, predicate: Callable[[Event], bool], what: str, timeout: float = 10.0) -> Event:
        async def scan() -> Event:
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                self._changed.clear()
                if self.process.stdout is not None and self.process.stdout.at_eof():
                    raise AssertionError(f"node exited: {self.stderr[-12:]}")
                await self._changed.wait()

        try:
            return await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"official client: no {what} within {timeout}s; last events {self.events[-6:]}; "
                f"stderr {self.stderr[-5:]}"
            ) from None

    async def event(self, name: str, timeout: float = 10.0) -> Event:
        return await self.wait_for(lambda e: e["event"] == name, name, timeout)

    async def ack(self, ref: str, timeout: float = 10.0) -> Event:
        return await self.wait_for(lambda e: e["event"] == "ack" and e["ref"] == ref, f"ack {ref!r}", timeout)

    async def connect(self, url: str, **options: Any) -> Event:
        self.send("connect", url=url, options=options)
        return await self.event("connect")

    async def on_websocket(self) -> Event:
        return await self.wait_for(
            lambda e: e["event"] == "upgrade" and e["transport"] == "websocket", "upgrade to websocket"
        )

    async def close(self) -> None:
        """Ask the client to disconnect and exit; kill the process by its PID if it does not."""
        if self.process.returncode is None:
            with contextlib.suppress(ConnectionError):
                self.send("close")
            try:
                await asyncio.wait_for(self.process.wait(), 3)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s died: %r", task.get_name(), task.exception())


@contextlib.asynccontextmanager
async def official_client() -> AsyncIterator[OfficialClient]:
    node = shutil.which("node")
    if node is None:
        missing("node is not installed (the official Socket.IO client runs in Node)")
    if not (JS_DIR / "node_modules" / "socket.io-client").is_dir():
        missing("socket.io-client is not installed: run `npm ci --prefix tests/js`")
    process = await asyncio.create_subprocess_exec(
        str(node),
        str(DRIVER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=JS_DIR,
    )
    client = OfficialClient(process)
    try:
        ready = await client.event("ready")
        major, minor = (int(part) for part in ready["client"].split(".")[:2])
        assert (major, minor) >= (4, 6), (
            f"socket.io-client {ready['client']} has no connection-state recovery"
        )
        yield client
    finally:
        await client.close()


async def logged_in(client: OfficialClient, dep: Deployment, name: str, **options: Any) -> str:
    """Connect `client` through the load balancer, log in, wait for the WebSocket; its worker's target id."""
    await client.connect(dep.url, **options)
    [opened] = client.of("open")
    assert opened["transport"] == "polling", opened  # the default transports start with long-polling
    client.send("login", name=name)
    ack = await client.ack(name)
    assert ack["response"]["ok"], ack
    upgrade = await client.on_websocket()
    assert upgrade["engineId"] == opened["engineId"], (opened, upgrade)  # the same Engine.IO session
    [target] = dep.target_of_connections()  # the only client that came through the load balancer
    return target


async def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_official_client_goes_through_the_load_balancer_polling_then_websocket(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with (
        deployment(shared_redis_url, key_prefix, workers=2) as dep,
        official_client() as js,
    ):
        target = await logged_in(js, dep, "node")
        other = next(t for t in dep.workers if t != target)
        py = ChatClient("python")
        try:
            await py.connect(dep.workers[other].url, ["websocket"])
            await py.login()
            assert (await py.say("hello from python"))["ok"]
            got = await js.wait_for(
                lambda e: e["event"] == "chat" and e["name"] == "new message", "python's message"
            )
            assert got["data"] == {"username": "python", "message": "hello from python"}
            assert got["offset"], "a broadcast carries its stream offset"
            js.send("say", text="hello from node")
            assert (await js.ack("hello from node"))["response"] == {"ok": True}
            heard = await py.wait_for("new message", lambda d: d["username"] == "node")
            assert heard["message"] == "hello from node"
            js.send("state")
            state = await js.event("state")
            assert state["connected"] and state["transport"] == "websocket", state
            assert "AWSALB" in state["cookies"], state
            # stickiness held: one handshake, no error, no reconnection on the way from polling to WebSocket
            assert len(js.of("open")) == 1 and not js.of("connect_error") and not js.of("disconnect"), (
                js.events
            )
            assert dep.target_of_connections() == [target]
        finally:
            await py.close()


@pytest.mark.slow
async def test_official_client_recovers_everything_after_its_worker_is_sigkilled(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with (
        deployment(shared_redis_url, key_prefix, workers=2, **FAST) as dep,
        official_client() as js,
    ):
        victim = await logged_in(js, dep, "node", **QUICK_RECONNECT)
        survivor = next(t for t in dep.workers if t != victim)
        sender = ChatClient("sender")
        try:
            await sender.connect(dep.workers[survivor].url, ["websocket"])
            await sender.login()
            sent: list[str] = []
            for i in range(120):
                text = f"m{i:03d}"
                assert (await sender.say(text))["ok"], text
                sent.append(text)
                if i == 20:
                    dep.workers[victim].kill()
                await asyncio.sleep(0.01)
            await wait_until(lambda: js.messages_from("sender") == sent, timeout=15)
            got = js.messages_from("sender")
            assert got == sent, (
                f"missing {sorted(set(sent) - set(got))[:10]}; duplicates {len(got) - len(set(got))}"
            )
            reconnected = js.of("connect")
            assert len(reconnected) == 2, reconnected
            assert reconnected[1]["recovered"] is True, reconnected
            assert dep.target_of_connections() == [
                survivor
            ]  # back through the load balancer, on the survivor
            assert not js.chat("user left")
        finally:
            await sender.close()


@pytest.mark.slow
async def test_official_client_sends_at_least_once_through_a_worker_crash_and_nothing_twice(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with (
        deployment(shared_redis_url, key_prefix, workers=2, **FAST) as dep,
        official_client() as js,
    ):
        victim = await logged_in(js, dep, "node", ackTimeout=1000, retries=30, **QUICK_RECONNECT)
        survivor = next(t for t in dep.workers if t != victim)
        receiver = ChatClient("receiver")
        try:
            await receiver.connect(dep.workers[survivor].url, ["websocket"])
            await receiver.login()
            sent = [f"j{i:03d}" for i in range(80)]
            for i, text in enumerate(sent):
                js.send("say", text=text)
                if i == 25:
                    await js.ack(sent[10])  # some went through the victim already
                    dep.workers[victim].kill()
                await asyncio.sleep(0.02)
            acks = [await js.ack(text, timeout=15) for text in sent]
            assert all(a.get("response", {}).get("ok") for a in acks), [a for a in acks if "error" in a]
            await wait_until(lambda: len(texts(receiver)) >= len(sent), timeout=10)
            await asyncio.sleep(0.3)  # a late duplicate would arrive now
            assert texts(receiver) == sent, (
                f"missing {sorted(set(sent) - set(texts(receiver)))[:10]}; "
                f"duplicates {len(texts(receiver)) - len(set(texts(receiver)))}"
            )
            assert js.of("connect")[-1]["recovered"] is True
            assert dep.target_of_connections() == [survivor]
        finally:
            await receiver.close()


def texts(client: ChatClient) -> list[str]:
    return [m["message"] for m in client.received("new message") if m["username"] == "node"]

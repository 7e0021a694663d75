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
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import missing

from emulator.alb import TargetState
from support.alb import Deployment, deployment
from support.chat_client import ChatClient, missing_and_duplicated

log = logging.getLogger(__name__)

JS_DIR = Path(__file__).resolve().parents[1] / "js"
DRIVER = JS_DIR / "driver.mjs"
FAST = {"MESSAGE_RATE": "1000", "MESSAGE_BURST": "1000"}
QUICK_RECONNECT = {"reconnectionDelay": 100, "reconnectionDelayMax": 500}
# the documented at-least-once options; the ack timeout is longer than any wait for an ack in these tests, so a
# message is sent again only after a reconnection
AT_LEAST_ONCE = {"ackTimeout": 5000, "retries": 10}

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


class Relay:
    """The client's network in front of the load balancer: a TCP relay that can hold back every byte coming
    from the servers and then cut every connection, as when a connection dies with an answer on its way."""

    def __init__(self, upstream_url: str) -> None:
        address = upstream_url.removeprefix("http://").rstrip("/")
        host, _, port = address.rpartition(":")
        self.upstream = (host, int(port))
        self.holding = False
        self.held_bytes = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.pumps: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> Relay:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await asyncio.gather(*self.pumps, return_exceptions=True)

    def hold_answers(self) -> None:
        self.holding = True

    def cut(self) -> None:
        """Drop every open connection (and what was held back); new connections pass freely again."""
        self.holding = False
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        self.writers |= {client_writer, server_writer}
        for name, reader, writer, answers in (
            ("up", client_reader, server_writer, False),
            ("down", server_reader, client_writer, True),
        ):
            pump = asyncio.get_running_loop().create_task(
                self._pump(reader, writer, answers), name=f"relay-{name}-{id(writer):x}"
            )
            self.pumps.add(pump)
            pump.add_done_callback(self.pumps.discard)
            pump.add_done_callback(_log_end)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answers: bool) -> None:
        try:
            while data := await reader.read(65536):
                if answers and self.holding:
                    self.held_bytes += len(data)
                    continue
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self.writers.discard(writer)
            writer.transport.abort()


@contextlib.asynccontextmanager
async def official_client() -> AsyncIterator[OfficialClient]:
    node = shutil.which("node")
    if node is None:
        missing("node is not installed (the official Socket.IO client runs in Node)")
        raise AssertionError("unreachable")
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


async def logged_in(
    client: OfficialClient, dep: Deployment, name: str, options: dict[str, int], url: str | None = None
) -> str:
    """Connect `client` through the load balancer (at `url` when a relay stands in front of it), log in, wait
    for the WebSocket; the target id of its worker."""
    await client.connect(url or dep.url, **options)
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


async def test_official_client_goes_through_the_load_balancer_polling_then_websocket(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with (
        official_client() as js,
        deployment(shared_redis_url, key_prefix, workers=2) as dep,
    ):
        target = await logged_in(js, dep, "node", {})
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
        official_client() as js,
        deployment(shared_redis_url, key_prefix, workers=2, **FAST) as dep,
    ):
        victim = await logged_in(js, dep, "node", QUICK_RECONNECT)
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
            assert got == sent, missing_and_duplicated(sent, got)
            reconnected = js.of("connect")
            assert len(reconnected) == 2, reconnected
            assert reconnected[1]["recovered"] is True, reconnected
            assert dep.target_of_connections() == [
                survivor
            ]  # back through the load balancer, on the survivor
            assert not js.chat("user left")
        finally:
            await sender.close()


async def stream_through_a_crash(
    js: OfficialClient,
    receiver: ChatClient,
    prepare: Callable[[], None],
    crash: Callable[[str], Awaitable[None]],
) -> list[Event]:
    """The official client sends j000..j059: `prepare()` runs just before j020 is sent, `crash(j020)` right
    after. Every message must reach `receiver` exactly once, in order. Returns the acks."""
    sent = [f"j{i:03d}" for i in range(60)]
    for i, text in enumerate(sent):
        if i == 20:
            prepare()
        js.send("say", text=text)
        if i < 20:
            assert (await js.ack(text))["response"] == {"ok": True}
        elif i == 20:
            await crash(text)
        else:
            await asyncio.sleep(0.02)  # these wait in the client's queue while it reconnects
    acks = [await js.ack(text, timeout=15) for text in sent]
    assert all(a.get("response", {}).get("ok") for a in acks), [a for a in acks if "error" in a][:3]
    await wait_until(lambda: len(texts(receiver)) >= len(sent), timeout=10)
    await asyncio.sleep(0.3)  # a late duplicate would arrive now
    got = texts(receiver)
    assert got == sent, missing_and_duplicated(sent, got)
    reconnected = js.of("connect")
    assert len(reconnected) == 2 and reconnected[1]["recovered"] is True, reconnected
    return acks


@pytest.mark.slow
async def test_official_client_sends_again_what_its_crashed_worker_never_processed(
    shared_redis_url: str, key_prefix: str
) -> None:
    """`ackTimeout` + `retries`: a message sent to a worker that dies without reading it is not lost."""
    async with (
        official_client() as js,
        deployment(shared_redis_url, key_prefix, workers=2, **FAST) as dep,
    ):
        victim = await logged_in(js, dep, "node", AT_LEAST_ONCE | QUICK_RECONNECT)
        survivor = next(t for t in dep.workers if t != victim)
        receiver = ChatClient("receiver")

        def freeze() -> None:  # the worker cannot accept the next message before it dies
            dep.workers[victim].process.send_signal(signal.SIGSTOP)

        async def crash(in_flight: str) -> None:
            await asyncio.sleep(0.3)
            dep.workers[victim].kill()

        try:
            await receiver.connect(dep.workers[survivor].url, ["websocket"])
            await receiver.login()
            acks = await stream_through_a_crash(js, receiver, freeze, crash)
            # the message in flight was acknowledged by the survivor, after the reconnection, as new
            assert acks[20]["response"] == {"ok": True}, acks[20]
            assert js.events.index(acks[20]) > js.events.index(js.of("connect")[1])
            assert dep.target_of_connections() == [survivor]
        finally:
            await receiver.close()


@pytest.mark.slow
async def test_official_client_retry_of_a_message_whose_ack_was_lost_is_not_sent_twice(
    shared_redis_url: str, key_prefix: str
) -> None:
    """The worker accepted the message and died before its ack reached the client: the client sends it again
    after recovering on the survivor, which acknowledges it as a duplicate and does not broadcast it again."""
    async with (
        official_client() as js,
        deployment(shared_redis_url, key_prefix, workers=2, **FAST) as dep,
        Relay(dep.url) as network,
    ):
        victim = await logged_in(js, dep, "node", AT_LEAST_ONCE | QUICK_RECONNECT, url=network.url)
        survivor = next(t for t in dep.workers if t != victim)
        receiver = ChatClient("receiver")

        async def crash(in_flight: str) -> None:
            await receiver.wait_for("new message", lambda d: d["message"] == in_flight)  # accepted
            dep.workers[victim].kill()
            network.cut()  # the ack the worker sent is lost with the connection

        try:
            await receiver.connect(dep.workers[survivor].url, ["websocket"])
            await receiver.login()
            acks = await stream_through_a_crash(js, receiver, network.hold_answers, crash)
            assert acks[20]["response"] == {"ok": True, "duplicate": True}, acks[20]
            assert dep.target_of_connections() == [survivor]
        finally:
            await receiver.close()


def texts(client: ChatClient) -> list[str]:
    return [m["message"] for m in client.received("new message") if m["username"] == "node"]


async def send_through_a_fault(
    js: OfficialClient, receiver: ChatClient, fault: Callable[[], Awaitable[None]], count: int, rate: float
) -> list[str]:
    """The official client sends `count` messages with ids at `rate` per second while `fault()` runs; every one
    must be acked `{"ok": true}` (the worker's default rate limit included) and reach `receiver` exactly once,
    in order."""
    sent = [f"f{i:03d}" for i in range(count)]
    faulting = asyncio.ensure_future(fault())
    for text in sent:
        js.send("say", text=text, id=f"id-{text}")
        await asyncio.sleep(1 / rate)
    await faulting
    acks = [await js.ack(text, timeout=60) for text in sent]
    refused = [(text, a) for text, a in zip(sent, acks, strict=True) if not a.get("response", {}).get("ok")]
    assert not refused, f"{len(refused)} not acked ok, e.g. {refused[:3]}"
    await wait_until(lambda: len(texts(receiver)) >= len(sent), timeout=20)
    await asyncio.sleep(0.5)  # a late duplicate would arrive now
    got = texts(receiver)
    assert got == sent, missing_and_duplicated(sent, got)
    return sent


@pytest.mark.slow
async def test_official_client_loses_nothing_while_its_worker_is_frozen_for_20_s(
    shared_redis_url: str, key_prefix: str
) -> None:
    """SIGSTOP for 20 s: the client queues, gives up on the frozen worker, recovers on the survivor and flushes
    its queue there; the worker's rate limit delays the flush instead of refusing it, and the frozen worker's
    late publish of the message it had read is dropped as a duplicate once it wakes."""
    async with (
        official_client() as js,
        deployment(shared_redis_url, key_prefix, workers=2) as dep,
    ):
        victim = await logged_in(js, dep, "node", AT_LEAST_ONCE | QUICK_RECONNECT)
        survivor = next(t for t in dep.workers if t != victim)
        receiver = ChatClient("receiver")

        async def freeze() -> None:
            await asyncio.sleep(1.0)
            dep.workers[victim].process.send_signal(signal.SIGSTOP)
            try:
                await asyncio.sleep(20)
            finally:
                dep.workers[victim].process.send_signal(signal.SIGCONT)

        try:
            await receiver.connect(dep.workers[survivor].url, ["websocket"])
            await receiver.login()
            await send_through_a_fault(js, receiver, freeze, count=80, rate=8)
            reconnected = js.of("connect")
            assert len(reconnected) == 2 and reconnected[1]["recovered"] is True, reconnected
        finally:
            await receiver.close()


@pytest.mark.slow
async def test_official_client_loses_nothing_when_every_worker_is_killed_at_once(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with (
        official_client() as js,
        deployment(shared_redis_url, key_prefix, workers=2) as dep,
    ):
        await logged_in(js, dep, "node", AT_LEAST_ONCE | QUICK_RECONNECT)
        receiver = ChatClient("receiver", reconnection=True)

        async def kill_all() -> None:
            await asyncio.sleep(1.0)
            old = list(dep.workers)
            for target_id in old:
                dep.workers[target_id].kill()
            await asyncio.sleep(3.0)  # the client's queue grows past the rate limit's burst meanwhile
            for target_id in old:
                await dep.wait_state(dep.replace(target_id), TargetState.HEALTHY, timeout=30)

        try:
            await receiver.connect(dep.url, ["websocket"])
            await receiver.login()
            await send_through_a_fault(js, receiver, kill_all, count=60, rate=10)
            assert js.of("connect")[-1]["recovered"] is True, js.of("connect")
            assert receiver.sio.recovered
        finally:
            await receiver.close()

"""The one seam to the libraries' internals (chat/_compat.py): the raw write path is on for a real WebSocket
client, its loss is said once and shown in /metrics while messages still arrive, and what python-socketio's
CONNECT override cannot do is refused when it is asked for."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import engineio
import engineio.async_drivers.asgi as engineio_asgi
import fakeredis
import httpx
import pytest
import socketio
import websockets

from chat import _compat
from chat.config import Settings
from chat.engine import ChatServer
from chat.lean import LeanEvent, LeanQueue
from chat.server import ChatWorker
from support.chat_client import ChatClient

RAW_OFF = "raw WebSocket write path OFF"


@contextlib.asynccontextmanager
async def worker(key_prefix: str, **settings: Any) -> AsyncIterator[ChatWorker]:
    chat = ChatWorker(
        Settings(host="127.0.0.1", port=0, key_prefix=key_prefix, **settings), fakeredis.FakeServer()
    )
    await chat.start()
    try:
        yield chat
    finally:
        await chat.stop(timeout=5)


async def metrics(chat: ChatWorker) -> dict[str, float]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{chat.url}/metrics")).text
    return {
        name: float(value)
        for name, _, value in (line.partition(" ") for line in text.splitlines() if not line.startswith("#"))
    }


async def broadcast(chat: ChatWorker, receivers: dict[str, list[str]]) -> None:
    """alice (WebSocket) says hello; every receiver (name -> its transports) gets it."""
    alice = ChatClient("alice")
    others = {name: ChatClient(name) for name in receivers}
    try:
        await alice.connect(chat.url, ["websocket"])
        await alice.login()
        for name, client in others.items():
            await client.connect(chat.url, receivers[name])
            await client.login()
        assert (await alice.say("hello")) == {"ok": True}
        for client in others.values():
            assert (await client.wait_for("new message"))["message"] == "hello"
    finally:
        for client in (alice, *others.values()):
            await client.close()


def raw_off_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "chat.compat" and RAW_OFF in r.getMessage()]


async def test_a_broadcast_to_a_websocket_client_is_written_raw(key_prefix: str) -> None:
    """Every delivery to bob (WebSocket) is a raw write: this fails whenever the raw path is silently off (the
    two tests below show the same counters when it is off)."""
    async with worker(key_prefix) as chat:
        await broadcast(chat, {"bob": ["websocket"]})
        seen = await metrics(chat)
    assert seen["chat_raw_write_path"] == 1
    # "new message" to bob, at least; bob's own "user joined" is not sent back to him
    assert seen["chat_deliveries_raw_total"] >= 1, f"no delivery went through the raw write path: {seen}"
    assert seen["chat_deliveries_raw_total"] == seen["chat_deliveries_total"], seen


async def test_a_missing_internal_turns_the_raw_path_off_with_one_warning(
    key_prefix: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delattr(engineio_asgi, "WebSocket")
    caplog.set_level(logging.WARNING, logger="chat.compat")
    async with worker(key_prefix) as chat:
        await broadcast(chat, {"bob": ["websocket"], "carol": ["websocket"]})
        seen = await metrics(chat)
    warnings = raw_off_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "engineio.async_drivers.asgi.WebSocket" in warnings[0]
    assert "python-socketio 5." in warnings[0]  # names the installed and the verified versions
    assert seen["chat_raw_write_path"] == 0
    assert seen["chat_deliveries_raw_total"] == 0
    assert seen["chat_deliveries_total"] >= 2  # delivered all the same, through python-engineio's queue


async def test_a_websocket_whose_transport_cannot_be_found_turns_the_raw_path_off(
    key_prefix: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What happens when uvicorn's protocol object changes shape: found at the first connection, said once."""
    monkeypatch.setattr(_compat, "websocket_transport", lambda asgi_send: None)
    caplog.set_level(logging.WARNING, logger="chat.compat")
    async with worker(key_prefix) as chat:
        assert (await metrics(chat))["chat_raw_write_path"] == 1  # nothing connected yet
        await broadcast(chat, {"bob": ["websocket"], "carol": ["websocket"]})
        seen = await metrics(chat)
    warnings = raw_off_warnings(caplog)
    assert len(warnings) == 1, warnings  # three connections, one warning
    assert "transport" in warnings[0]
    assert seen["chat_raw_write_path"] == 0
    assert seen["chat_deliveries_raw_total"] == 0
    assert seen["chat_deliveries_total"] >= 2


def test_every_internal_is_there_in_the_installed_versions() -> None:
    """Fails on an upgrade that moved or reshaped something the seam uses (`nox -s newest` runs this)."""
    report = _compat.check(engineio.AsyncServer(async_mode="asgi"))
    assert report.problems == [] and report.others == []
    assert report.active
    # the heartbeat's packets as the seam writes and reads them are python-engineio's encodings
    assert engineio.packet.Packet(engineio.packet.PING).encode() == _compat.PING_TEXT
    assert _compat.PONG_TEXT.decode() == engineio.packet.Packet(engineio.packet.PONG).encode()


def handler(*args: Any) -> None:
    pass


@pytest.mark.parametrize(
    "register",
    [
        lambda sio: sio.on("connect", handler),
        lambda sio: sio.on("connect")(handler),
        lambda sio: sio.event(connect),
        lambda sio: sio.on("hello", handler, namespace="/other"),
        lambda sio: sio.on("*", handler, namespace="*"),
        lambda sio: sio.register_namespace(socketio.AsyncNamespace("/other")),
    ],
    ids=["on-connect", "on-connect-decorator", "event-connect", "other-namespace", "any-namespace", "class"],
)
def test_what_the_connect_override_does_not_do_is_refused_at_registration(register: Any) -> None:
    sio = ChatServer(max_unsent_bytes=1 << 20)
    with pytest.raises(_compat.Unsupported):
        register(sio)


def connect(sid: str, environ: dict[str, Any]) -> None:
    pass


@pytest.mark.parametrize(
    "option", [{"always_connect": True}, {"namespaces": "*"}, {"namespaces": ["/", "/a"]}]
)
def test_always_connect_and_namespaces_are_refused_at_construction(option: dict[str, Any]) -> None:
    with pytest.raises(_compat.Unsupported):
        ChatServer(max_unsent_bytes=1 << 20, **option)


def test_the_default_namespace_handlers_still_register() -> None:
    sio = ChatServer(max_unsent_bytes=1 << 20)
    sio.on("disconnect", handler)
    sio.on("hello", handler, namespace="/")
    assert set(sio.handlers["/"]) == {"disconnect", "hello"}


async def test_a_websocket_connection_holds_lean_containers(key_prefix: str) -> None:
    """An idle connection's session is a LeanSocket, its two queues and uvicorn's writable flag are chat.lean's (4 KB less each than asyncio's
    three, chat/lean.py); neither the request body reader python-engineio builds nor the parsed handshake is kept."""
    async with worker(key_prefix) as chat:
        bob = ChatClient("bob")
        try:
            await bob.connect(chat.url, ["websocket"])
            await bob.login()
            assert chat.app is not None
            (sock,) = chat.app.sio.eio.sessions()
            assert isinstance(sock.queue, LeanQueue)
            assert isinstance(sock, _compat.LeanSocket)  # writer and heartbeat without tasks of their own
            protocol = sock.ws_transport.get_protocol()
            assert isinstance(protocol, _compat.websocket_protocol())
            assert isinstance(protocol.queue, LeanQueue)
            assert isinstance(protocol.writable, LeanEvent)
            assert protocol.request is None and protocol.response is None  # the handshake is not kept
            assert "wsgi.input" not in chat.app.sio.environ_of(sock.sid)
            assert (await bob.say("still works")) == {"ok": True}
        finally:
            await bob.close()


def quick_heartbeat_worker(
    key_prefix: str, **settings: Any
) -> contextlib.AbstractAsyncContextManager[ChatWorker]:
    """A worker whose heartbeat runs every second (and gives up on a client a second after an unanswered PING)."""
    return worker(key_prefix, **{"ping_interval": 1, "ping_timeout": 1, **settings})


async def three_heartbeats(key_prefix: str) -> dict[str, float]:
    """A client on WebSocket through three heartbeats of a quick-heartbeat worker: still connected and served;
    the worker's /metrics at the end."""
    async with quick_heartbeat_worker(key_prefix) as chat:
        bob = ChatClient("bob")
        try:
            await bob.connect(chat.url, ["websocket"])
            await bob.login()
            await asyncio.sleep(3.5)  # three heartbeats
            assert bob.sio.connected
            assert (await bob.say("still here")) == {"ok": True}
            counted = await metrics(chat)
        finally:
            await bob.close()
    return counted


async def test_the_heartbeat_wakes_no_task(key_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PINGs are written raw from a timer and PONGs are taken where the connection reads them: python-engineio's
    `receive` never sees a PONG, a client that answers stays connected, and /metrics counts both."""
    received: list[int] = []
    receive = _compat.LeanSocket.receive

    async def recording(self: Any, pkt: Any) -> None:
        received.append(pkt.packet_type)
        await receive(self, pkt)

    monkeypatch.setattr(_compat.LeanSocket, "receive", recording)
    counted = await three_heartbeats(key_prefix)
    assert counted["chat_heartbeat_pings_raw_total"] >= 2  # the first PING is python-engineio's (queued)
    assert counted["chat_heartbeat_pongs_inline_total"] >= 2
    assert engineio.packet.PONG not in received
    assert engineio.packet.MESSAGE in received  # everything else still goes through python-engineio


async def engineio_websocket(chat: ChatWorker) -> Any:
    """A bare Engine.IO WebSocket client (no heartbeat of its own), past its Socket.IO CONNECT."""
    connection = await websockets.connect(f"ws://127.0.0.1:{chat.port}/socket.io/?EIO=4&transport=websocket")
    assert str(await connection.recv()).startswith("0")
    await connection.send("40")
    assert str(await connection.recv()).startswith("40")
    return connection


async def closed_within(connection: Any, seconds: float, *, keep_sending: str | None = None) -> None:
    """The server closes `connection` within `seconds`; PINGs are never answered, `keep_sending` goes out every
    0.3 s meanwhile."""

    async def talk() -> None:
        while keep_sending is not None:
            await connection.send(keep_sending)
            await asyncio.sleep(0.3)

    talker = asyncio.ensure_future(talk())
    try:
        with pytest.raises(websockets.ConnectionClosed):
            async with asyncio.timeout(seconds):
                while True:
                    await connection.recv()
    finally:
        talker.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await talker


async def sessions_gone(chat: ChatWorker) -> None:
    """Every Engine.IO session of `chat` has ended (within 5 s)."""
    assert chat.app is not None
    async with asyncio.timeout(5):
        while chat.app.sio.eio.open_sessions():
            await asyncio.sleep(0.05)


async def test_a_client_that_stops_answering_the_heartbeat_is_closed(key_prefix: str) -> None:
    """A client that sends nothing leaves its first PING unanswered: about PING_INTERVAL + PING_TIMEOUT (2 s here)
    after it connected, its session ends and its connection is closed."""
    async with quick_heartbeat_worker(key_prefix) as chat:
        silent = await engineio_websocket(chat)
        assert chat.app is not None
        assert chat.app.sio.eio.open_sessions() == 1
        started = time.monotonic()
        await closed_within(silent, 10)
        assert time.monotonic() - started >= 1.5
        await sessions_gone(chat)


@pytest.mark.parametrize("packet_text", ["x", "", "9"])
async def test_a_malformed_engineio_packet_closes_only_its_connection(
    key_prefix: str, packet_text: str
) -> None:
    """A packet python-engineio cannot decode (or of an unknown type) ends that connection, logged; the worker
    goes on serving everyone else."""
    async with worker(key_prefix) as chat:
        bob = ChatClient("bob")
        try:
            await bob.connect(chat.url, ["websocket"])
            await bob.login()
            bad = await engineio_websocket(chat)
            await bad.send(packet_text)
            if packet_text == "9":  # a digit python-engineio does not know: ignored, as python-engineio does
                await bad.send('42["add user","mallory"]')
                assert "login" in str(await bad.recv())
                await bad.close()
            else:
                await closed_within(bad, 5)
            assert (await bob.say("still served")) == {"ok": True}
        finally:
            await bob.close()


async def test_a_client_that_talks_but_never_answers_the_heartbeat_is_closed(key_prefix: str) -> None:
    """python-engineio closes a session whose PING went unanswered (PING_TIMEOUT) however much else the client
    sends; the connection under it must end too, not stay open on a closed session."""
    async with quick_heartbeat_worker(key_prefix) as chat:
        talker = await engineio_websocket(chat)
        await closed_within(talker, 10, keep_sending='42["typing"]')
        await sessions_gone(chat)


async def test_python_engineios_own_handler_still_serves_when_the_connection_is_not_ours(
    key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the connection is not uvicorn's protocol as verified, the session runs python-engineio's WebSocket
    handler, with its PINGs queued (its writer ends a connection that had nothing queued for a while)."""
    monkeypatch.setattr(_compat, "_is_lean_connection", lambda connection: False)
    counted = await three_heartbeats(key_prefix)
    assert counted["chat_heartbeat_pings_raw_total"] == 0
    assert counted["chat_heartbeat_pongs_inline_total"] == 0


async def test_the_heartbeat_on_a_compressed_connection(key_prefix: str) -> None:
    """With permessage-deflate (WS_COMPRESSION) nothing is written raw: PINGs go through the queue, PONGs are
    still taken where the connection reads them, and a client that answers stays connected."""
    async with quick_heartbeat_worker(key_prefix, ws_compression=True) as chat:
        connection = await websockets.connect(
            f"ws://127.0.0.1:{chat.port}/socket.io/?EIO=4&transport=websocket", compression="deflate"
        )
        assert connection.protocol.extensions  # deflate negotiated
        assert str(await connection.recv()).startswith("0")
        await connection.send("40")
        pings = 0
        async with asyncio.timeout(10):
            while pings < 3:
                if await connection.recv() == "2":
                    pings += 1
                    await connection.send("3")
        await connection.send('42["add user","carol"]')
        assert "login" in str(await connection.recv())
        await connection.close()
        counted = await metrics(chat)
    assert counted["chat_heartbeat_pings_raw_total"] == 0
    assert counted["chat_heartbeat_pongs_inline_total"] >= 2


async def test_the_heartbeat_check_visits_every_session_in_one_pass(
    key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's service task (which closes sessions whose PING went unanswered) waits once per pass over all
    sessions, not once per session: python-engineio's waits `ping_timeout / len(sessions)` between two sessions,
    a `wait_for` each (250 a second at 2000 sessions)."""
    waits = 0
    wait_for = asyncio.wait_for

    async def counting(awaitable: Any, timeout: float | None) -> Any:
        nonlocal waits
        if asyncio.current_task() is getattr(engine, "service_task_handle", None):
            waits += 1
        return await wait_for(awaitable, timeout)

    async with worker(key_prefix, ping_interval=30, ping_timeout=1) as chat:
        assert chat.app is not None
        engine = chat.app.sio.eio
        connections = [await engineio_websocket(chat) for _ in range(40)]  # closed by the worker's stop
        monkeypatch.setattr(asyncio, "wait_for", counting)
        await asyncio.sleep(1.5)  # 1.5 ping timeouts: python-engineio's would wait about 60 times
        monkeypatch.undo()
        assert engine.open_sessions() == len(connections)
    assert 2 <= waits <= 10  # a pass every ping_timeout / 4


async def test_a_session_whose_close_hangs_delays_no_other_timeout(
    key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timed-out session's close runs the disconnect handlers, which may wait (on a slow Redis): the heartbeat
    check closes it in a task of its own, and goes on to the other sessions. python-engineio's awaited each close
    before checking the next session."""
    async with quick_heartbeat_worker(key_prefix) as chat:
        assert chat.app is not None
        engine = chat.app.sio.eio
        stuck = await engineio_websocket(chat)
        [stuck_sid] = list(engine.sockets)
        later = await engineio_websocket(chat)  # checked after `stuck` in every pass
        release = asyncio.Event()
        trigger = engine._trigger_event

        async def hanging(event: str, *args: Any, **kwargs: Any) -> Any:
            if event == "disconnect" and args and args[0] == stuck_sid:
                await release.wait()
            return await trigger(event, *args, **kwargs)

        monkeypatch.setattr(engine, "_trigger_event", hanging)
        try:
            await closed_within(later, 10)
            closing = engine._timing_out[stuck_sid]  # its close still waits
            await asyncio.sleep(0.6)  # two more passes of the check
            assert engine._timing_out[stuck_sid] is closing and not closing.done()
        finally:
            release.set()
        await closed_within(stuck, 5)
        await sessions_gone(chat)
        assert not engine._timing_out


async def test_a_close_still_waiting_when_the_worker_stops_is_ended(
    key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with quick_heartbeat_worker(key_prefix) as chat:
        assert chat.app is not None
        engine = chat.app.sio.eio
        stuck = await engineio_websocket(chat)
        trigger = engine._trigger_event

        async def hanging(event: str, *args: Any, **kwargs: Any) -> Any:
            if event == "disconnect":
                await asyncio.Event().wait()  # forever
            return await trigger(event, *args, **kwargs)

        monkeypatch.setattr(engine, "_trigger_event", hanging)
        async with asyncio.timeout(10):
            while not engine._timing_out:
                await asyncio.sleep(0.05)
        [closing] = engine._timing_out.values()
    assert closing.done()  # the worker's stop ended it
    await stuck.close()


async def test_a_client_that_stalls_in_the_upgrade_is_closed(key_prefix: str) -> None:
    """A long-polling session that opens its WebSocket and then sends neither the probe nor UPGRADE: its PINGs wait
    in the polling queue, the session times out, and the WebSocket under it is closed too."""
    async with quick_heartbeat_worker(key_prefix) as chat:
        async with httpx.AsyncClient() as http:
            opened = (await http.get(f"{chat.url}/socket.io/?EIO=4&transport=polling")).text
        sid = json.loads(opened[1:])["sid"]
        stalled = await websockets.connect(
            f"ws://127.0.0.1:{chat.port}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        )
        await closed_within(stalled, 10)


async def test_the_heartbeat_check_ends_with_the_worker(key_prefix: str) -> None:
    async with quick_heartbeat_worker(key_prefix) as chat:
        bob = await engineio_websocket(chat)  # the first session starts python-engineio's service task
        assert chat.app is not None
        engine = chat.app.sio.eio
        await bob.close()
    assert engine.service_task_handle.done()

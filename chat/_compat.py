"""The one seam to the libraries' internals: everything in `chat` that reaches past the documented API of
python-engineio, python-socketio or uvicorn is here, and nowhere else.

Checked against the versions in `VERIFIED`; pyproject.toml pins the same minor versions, and `nox -s newest`
runs the test suite against the newest releases (an upgrade is a decision, not an accident). `check()` runs when
a worker builds its Socket.IO server (`SocketIOServer.__init__`): whatever is missing or has another shape is
logged in ONE warning; if it is part of the raw write path, that path is off (`RawPath.active` false, `/metrics`
`chat_raw_write_path 0`) and every packet goes through python-engineio's queue, which is slower but correct. The
same happens, with the same one warning, when a WebSocket connection's transport cannot be found at run time.

- Engine.IO sessions (python-engineio's `AsyncSocket`; on WebSocket a `LeanSocket`: its own WebSocket handler, a
  heartbeat that wakes no task; two tasks per connection where python-engineio runs five): `takes_raw_frames`, `on_websocket`, `is_closed`,
  `is_closing`, `queue_is_empty`, `drop_queued`, `queue_packet`, `close_session`; `EngineServer`: the
  engine with its sessions by id, lean per-session queues (`create_queue`, `chat.lean`), a service task that
  checks every session's heartbeat in one pass (`_service_task`) and the new-session handshake as a hook
  (`refuse_session`).
- `SocketIOServer`: python-socketio's AsyncServer whose packet writes, Socket.IO CONNECT, new Engine.IO sessions
  and new WebSocket connections are named hooks; it refuses (`Unsupported`) what its CONNECT does not do:
  `connect` handlers, `always_connect`, namespaces other than "/".
- The connection under a WebSocket (uvicorn's websockets-sansio protocol): `websocket_protocol` (uvicorn's
  `ws=`, with lean per-connection containers, `chat.lean`, which takes its session's PONGs),
  `websocket_transport`, `raw_transport`.
- `SocketIOClient`: python-socketio's AsyncClient with the CONNECT answer and event arguments as hooks.
- `EmbeddableServer`: uvicorn's Server without its signal handlers; `listening_port`, `stop_listening`,
  `abort_connections`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import engineio
import engineio.async_drivers.asgi as engineio_asgi
import engineio.async_socket
import engineio.exceptions
import engineio.packet
import socketio
import uvicorn
from socketio import packet

from chat.lean import LeanEvent, LeanQueue

log = logging.getLogger("chat.compat")

# what every internal below was read and tested against (pyproject.toml pins these minor versions)
VERIFIED = {"python-engineio": "4.15.1", "python-socketio": "5.18.1", "uvicorn": "0.54.0"}

UVICORN_WEBSOCKET_MODULE = "uvicorn.protocols.websockets.websockets_sansio_impl"
UVICORN_WEBSOCKET_CLASS = "WebSocketsSansIOProtocol"


class Unsupported(ValueError):
    """A python-socketio feature this server does not carry out (it would otherwise be dropped silently)."""


# ---- the start-up check -------------------------------------------------------------------------------


@dataclass
class RawPath:
    """Whether frames may be written straight to WebSocket transports; why not, once, in the log."""

    problems: list[str] = field(default_factory=list)  # what the raw write path lacks
    others: list[str] = field(default_factory=list)  # other internals missing (logged, nothing disabled)
    warned: bool = False

    @property
    def active(self) -> bool:
        return not self.problems

    def warn(self) -> None:
        if self.warned or not (self.problems or self.others):
            return
        self.warned = True
        installed = ", ".join(f"{name} {_installed(name)}" for name in VERIFIED)
        verified = ", ".join(f"{name} {version}" for name, version in VERIFIED.items())
        what = "; ".join(self.problems + self.others)
        if self.problems:
            log.warning(
                "raw WebSocket write path OFF, every packet goes through python-engineio's queue (slower): %s "
                "(installed: %s; verified: %s)",
                what,
                installed,
                verified,
            )
        else:
            log.warning(
                "library internals changed shape: %s (installed: %s; verified: %s)", what, installed, verified
            )

    def lost(self, why: str) -> None:
        """The raw path failed at run time (a connection whose transport cannot be found): off from now on."""
        if why not in self.problems:
            self.problems.append(why)
        self.warn()


def _installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _parameters(function: Any) -> list[str] | None:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return None


def check(eio: Any) -> RawPath:
    """Everything this module uses, present and in the shape it expects, on the engine `eio`."""
    raw: list[str] = []
    others: list[str] = []

    def need(ok: bool, what: str, problems: list[str]) -> None:
        if not ok:
            problems.append(what)

    websocket = getattr(engineio_asgi, "WebSocket", None)
    need(
        isinstance(websocket, type) and (_parameters(websocket) or [])[:2] == ["handler", "server"],
        "python-engineio: engineio.async_drivers.asgi.WebSocket(handler, server) is missing",
        raw,
    )
    table = getattr(eio, "_async", None)
    need(
        isinstance(table, dict) and "websocket" in table,
        "python-engineio: the ASGI driver table AsyncServer._async['websocket'] is missing",
        raw,
    )
    try:
        probe = engineio.async_socket.AsyncSocket(eio, "compat-check")
    except Exception as exc:
        raw.append(f"python-engineio: AsyncSocket(server, sid) failed: {exc!r}")
    else:
        for name in ("upgraded", "upgrading", "closed", "closing"):
            need(isinstance(getattr(probe, name, None), bool), f"python-engineio: AsyncSocket.{name}", raw)
        queue = getattr(probe, "queue", None)
        need(
            all(hasattr(queue, name) for name in ("empty", "get_nowait", "task_done")),
            "python-engineio: AsyncSocket.queue (an asyncio.Queue)",
            raw,
        )
        need(
            _parameters(getattr(probe, "close", None)) is not None,
            "python-engineio: AsyncSocket.close",
            others,
        )
        need(
            hasattr(probe, "last_ping")
            and inspect.iscoroutinefunction(getattr(probe, "check_ping_timeout", None)),
            "python-engineio: AsyncSocket.last_ping / check_ping_timeout() (every session is then checked in a task)",
            others,
        )
    for name, expected in (
        ("_send_packet", ["eio_sid", "pkt"]),
        ("_send_eio_packet", ["eio_sid", "eio_pkt"]),
    ):
        need(
            _parameters(getattr(socketio.AsyncServer, name, None)) == ["self", *expected],
            f"python-socketio: AsyncServer.{name}({', '.join(expected)})",
            raw,
        )
    protocol = getattr(_module(UVICORN_WEBSOCKET_MODULE), UVICORN_WEBSOCKET_CLASS, None)
    need(
        protocol is not None and inspect.iscoroutinefunction(getattr(protocol, "send", None)),
        f"uvicorn: {UVICORN_WEBSOCKET_MODULE}.{UVICORN_WEBSOCKET_CLASS}.send",
        raw,
    )
    for owner, name, expected in (
        (protocol, "send_receive_event_to_app", ["self"]),  # else a PONG wakes the session's reader
        (socketio.AsyncServer, "_handle_connect", ["self", "eio_sid", "namespace", "data"]),
        (socketio.AsyncServer, "_handle_eio_connect", ["self", "eio_sid", "environ"]),
        (socketio.AsyncServer, "_engineio_server_class", ["self"]),
        (engineio.AsyncServer, "_handle_connect", ["self", "environ", "transport", "jsonp_index"]),
        (socketio.AsyncClient, "_handle_connect", ["self", "namespace", "data"]),
        (socketio.AsyncClient, "_handle_event", ["self", "namespace", "id", "data"]),
        (socketio.AsyncClient, "_send_packet", ["self", "pkt"]),
    ):
        need(
            _parameters(getattr(owner, name, None)) == expected,
            f"{getattr(owner, '__module__', '?').split('.')[0]}: {getattr(owner, '__name__', '?')}.{name}"
            f"({', '.join(expected[1:])})",
            others,
        )
    for name in ("pre_connect", "connect", "disconnect", "sid_from_eio_sid", "eio_sid_from_sid"):
        need(
            callable(getattr(socketio.AsyncManager, name, None)),
            f"python-socketio: AsyncManager.{name}",
            others,
        )
    need(hasattr(uvicorn.Server, "capture_signals"), "uvicorn: Server.capture_signals", others)
    need(
        _parameters(getattr(engineio.AsyncServer, "_service_task", None)) == ["self"]
        and callable(getattr(engineio.AsyncServer, "create_event", None)),
        "python-engineio: AsyncServer._service_task() / create_event (the heartbeat check runs as python-engineio's)",
        others,
    )
    need(
        _lean_session_fits(),
        "python-engineio: AsyncSocket's poll, schedule_ping, send, receive or _websocket_handler "
        "(sessions keep python-engineio's own WebSocket handler)",
        others,
    )
    return RawPath(raw, others)


def _module(name: str) -> Any:
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        return None


# ---- Engine.IO sessions -------------------------------------------------------------------------------


def takes_raw_frames(sock: Any) -> bool:
    """The session is on WebSocket, not upgrading, open, and nothing older waits in its queue."""
    return bool(sock.upgraded) and not sock.upgrading and not sock.closed and sock.queue.empty()


def on_websocket(sock: Any) -> bool:
    return bool(sock.upgraded)


def is_closed(sock: Any) -> bool:
    return bool(sock.closed)


def is_closing(sock: Any) -> bool:
    """Closed, or closing."""
    return bool(sock.closed or sock.closing)


def queue_is_empty(sock: Any) -> bool:
    return bool(sock.queue.empty())


def drop_queued(sock: Any) -> None:
    """Forget every packet waiting in the session's queue."""
    queue = sock.queue
    while not queue.empty():
        queue.get_nowait()
        queue.task_done()


async def queue_packet(sock: Any, pkt: Any) -> None:
    """An Engine.IO packet into the session's queue (the polling GET, or the WebSocket writer, sends it)."""
    await sock.send(pkt)


async def close_session(sock: Any, reason: Any, *, abort: bool = False) -> None:
    """Close the session now, without waiting for the client to poll the CLOSE packet."""
    await sock.close(wait=False, abort=abort, reason=reason)


class LeanSocket(engineio.async_socket.AsyncSocket):  # type: ignore[misc]
    """python-engineio's session, once on WebSocket, with its handler (`_websocket_handler`) in our own words:
    the same packets, upgrade, timeouts and close, and a heartbeat that wakes no task.

    - Its writer waits for the next queued packet with `LeanQueue.get`, not `asyncio.wait_for`'s task.
    - The reader awaits the connection directly; python-engineio starts a task and a `wait_for` per packet.
    - The PING is written through the server's raw write (`write_text`, set when the WebSocket opens), from a
      timer; python-engineio starts a task that sleeps `ping_interval`, then queues it for the writer.
    - The client's PONG is taken where the connection reads it (`LeanWebSocketProtocol`): it only schedules the
      next PING, so the reader is not woken for it.
    - A client that leaves a PING unanswered is closed by the engine's service task (`EngineServer`), which
      ends the connection too (`close`); python-engineio's per-packet read timeout did it a second time.
    A malformed packet closes the connection, logged (python-engineio's handler raised past its writer). Where
    the connection is not `LeanWebSocketProtocol` (another uvicorn), python-engineio's own handler runs."""

    last_ping: float | None
    connected: bool
    upgraded: bool
    upgrading: bool
    write_text: Callable[[str], bool] | None = None  # the server's raw write of one packet's text, or None
    writer: asyncio.Future[None] | None = None  # the task writing what is queued, while the handler runs
    connection: Any = None  # uvicorn's protocol under this session's WebSocket, once its handler runs

    async def poll(self) -> list[Any]:
        """The packets to send (long-polling GET): `ping_interval + ping_timeout` without one is `QueueEmpty`."""
        if not isinstance(self.queue, LeanQueue):
            return await super().poll()  # type: ignore[no-any-return]
        return await self._queued(self.server.ping_interval + self.server.ping_timeout)

    async def _queued(self, timeout: float | None) -> list[Any]:
        queue = self.queue
        try:
            first = await queue.get(timeout)
            queue.task_done()
        except (TimeoutError, asyncio.CancelledError):
            raise engineio.exceptions.QueueEmpty() from None
        if first is None:
            return []
        packets = [first]
        while not queue.empty():
            pkt = queue.get_nowait()
            queue.task_done()
            if pkt is None:
                queue.put_nowait(None)
                break
            packets.append(pkt)
        return packets

    # ---- the heartbeat ------------------------------------------------------------------------------

    def schedule_ping(self) -> None:
        # only schedule a new ping if the previous ping wait cycle completed (python-engineio's rule)
        if self.last_ping:
            self.last_ping = None
            asyncio.get_running_loop().call_later(self.server.ping_interval, self._ping_due)

    @property
    def heartbeats(self) -> Heartbeats | None:
        """The engine's counters (an `EngineServer`'s; None under another engine)."""
        return getattr(self.server, "heartbeats", None)

    def pong(self) -> None:
        """The client answered the PING (read by the connection, `LeanWebSocketProtocol`)."""
        stats = self.heartbeats
        if stats is not None and self.last_ping:
            stats.pongs_inline += 1
        self.schedule_ping()

    def _ping_due(self) -> None:
        if self.closing or self.closed:
            return
        write = self.write_text
        if write is not None:
            self.last_ping = time.time()
            if write(PING_TEXT):
                stats = self.heartbeats
                if stats is not None:
                    stats.pings_raw += 1
                return
        self.server.start_background_task(self._ping)

    async def _ping(self) -> None:
        # checked again when it runs, with nothing awaited before the send (python-engineio's `_send_ping`): a
        # session closed meanwhile is not sent to (its `send` would raise)
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            await self.send(engineio.packet.Packet(engineio.packet.PING))

    # ---- the WebSocket connection -------------------------------------------------------------------

    async def _websocket_handler(self, ws: Any) -> None:
        connection: Any = getattr(getattr(ws, "asgi_send", None), "__self__", None)
        if not (_is_lean_connection(connection) and isinstance(self.queue, LeanQueue)):
            # python-engineio's writer ends after a while with nothing queued: its PINGs are queued
            self.write_text = None
            await super()._websocket_handler(ws)
            return
        self.connection = connection
        if self.connected:  # an upgrade from long-polling: the probe, then UPGRADE (python-engineio's order)
            self.upgrading = True  # packets wait in the queue meanwhile
            probe = await self._next_packet(ws)
            if probe is None or probe.packet_type != engineio.packet.PING or probe.data != "probe":
                log.info("%s: failed WebSocket upgrade, no PING probe", self.sid)
                self.upgrading = False
                return
            await ws.send(engineio.packet.Packet(engineio.packet.PONG, data="probe").encode())
            await self.queue.put(engineio.packet.Packet(engineio.packet.NOOP))  # ends the pending poll
            upgrade = await self._next_packet(ws)
            if upgrade is None or upgrade.packet_type != engineio.packet.UPGRADE:
                log.info("%s: failed WebSocket upgrade, no UPGRADE packet", self.sid)
                self.upgraded = self.upgrading = False
                return
            self.upgraded, self.upgrading = True, False
        else:
            self.connected = self.upgraded = True
        self.writer = writer = asyncio.ensure_future(self._write_queued(ws))
        connection.engineio_session = self  # its PONGs are taken where the connection reads them
        try:
            while not self.closed and (pkt := await self._next_packet(ws)) is not None:
                try:
                    await self.receive(pkt)
                except engineio.exceptions.UnknownPacketError:
                    pass
                except engineio.exceptions.SocketIsClosedError:
                    break
                except Exception:  # python-engineio's rule: logged, the connection stays
                    log.exception("%s: receiving a packet failed", self.sid)
        finally:  # also when the task is cancelled: the writer and the session end with the connection
            connection.engineio_session = None
            await self._end_writer(writer, ws)
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """python-engineio's close, and then the connection ends too (its writer, which had a timeout, did
        that eventually: a session closed for a PING timeout, or by the client's CLOSE): the writer is told to
        end; a handler still waiting for the upgrade's probe reads a disconnect; and a connection still open
        `ABORT_AFTER` seconds later (a writer stuck behind a peer that does not read) is dropped."""
        await super().close(wait=wait, abort=abort, reason=reason)
        connection = self.connection
        if connection is None:
            return
        writer = self.writer
        if writer is None:  # the upgrade is under way: its reads end
            connection.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
        elif not writer.done():
            self.queue.put_nowait(None)
        transport = getattr(connection, "transport", None)
        if transport is not None and not transport.is_closing():
            asyncio.get_running_loop().call_later(ABORT_AFTER, transport.abort)

    async def _end_writer(self, writer: asyncio.Future[None], ws: Any) -> None:
        self.queue.put_nowait(None)  # the writer ends, and closes the connection
        done, _ = await asyncio.wait({writer}, timeout=self.server.ping_timeout)
        if not done:  # what it waited for was dropped meanwhile (a client cut off): stop it, close here
            writer.cancel()
            await ws.close()

    async def _next_packet(self, ws: Any) -> Any | None:
        """The next packet from the client; None once the connection is closed (or the packet is too large or
        malformed: the connection then ends)."""
        try:
            data = await ws.wait()
        except (OSError, asyncio.CancelledError):  # closed, or the task stopped: the session ends either way
            return None
        if data is None:
            return None
        if len(data) > self.server.max_http_buffer_size:
            log.info("%s: packet too large (%d), closing", self.sid, len(data))
            return None
        try:
            return engineio.packet.Packet(encoded_packet=data)
        except Exception as exc:
            log.info("%s: malformed Engine.IO packet (%r), closing", self.sid, exc)
            return None

    async def _write_queued(self, ws: Any) -> None:
        """What goes through the queue (python-engineio's writer, without its timeout: a raw heartbeat leaves the
        queue empty, and a silent client's session is closed by the engine's service task, which ends this)."""
        while True:
            try:
                packets = await self._queued(None)
            except engineio.exceptions.QueueEmpty:
                break
            if not packets:
                break
            try:
                for pkt in packets:
                    await ws.send(pkt.encode())
            except Exception:
                break
        await ws.close()


def _is_lean_connection(connection: Any) -> bool:
    """A `LeanWebSocketProtocol` connection with the state of uvicorn's it reads (else python-engineio's handler)."""
    lean = websocket_protocol()
    return (
        isinstance(lean, type)
        and isinstance(connection, lean)
        and all(hasattr(connection, name) for name in ("queue", "frames", "curr_msg_data_type", "close_sent"))
    )


@functools.cache
def _lean_session_fits() -> bool:
    """python-engineio's session still has the shape `LeanSocket` overrides (else sessions keep their class)."""
    socket_class = engineio.async_socket.AsyncSocket
    return (
        _parameters(getattr(socket_class, "poll", None)) == ["self"]
        and _parameters(getattr(socket_class, "schedule_ping", None)) == ["self"]
        and _parameters(getattr(socket_class, "send", None)) == ["self", "pkt"]
        and _parameters(getattr(socket_class, "receive", None)) == ["self", "pkt"]
        and _parameters(getattr(socket_class, "_websocket_handler", None)) == ["self", "ws"]
        and inspect.iscoroutinefunction(getattr(socket_class, "_send_ping", None))
        and all(hasattr(engineio.packet, name) for name in ("PING", "PONG", "NOOP", "UPGRADE"))
    )


def lean_session(sock: Any) -> bool:
    """A session starting on WebSocket becomes a `LeanSocket` (when python-engineio's shape allows it)."""
    if type(sock) is engineio.async_socket.AsyncSocket and _lean_session_fits():
        sock.__class__ = LeanSocket
        return True
    return isinstance(sock, LeanSocket)


# the service task's passes over every session per ping_timeout (a close comes at most a quarter of it late)
SERVICE_PASSES = 4
ABORT_AFTER = 5.0  # seconds a closed connection may take to flush before it is dropped


@dataclass
class Heartbeats:
    """Engine.IO heartbeats that took the lean way: PINGs written raw, PONGs taken by the connection."""

    pings_raw: int = 0
    pongs_inline: int = 0


class EngineServer(engineio.AsyncServer):  # type: ignore[misc]
    """python-engineio's AsyncServer, its sessions by id, and a hook on every new-session handshake."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.heartbeats = Heartbeats()
        self._timing_out: dict[
            str, asyncio.Future[None]
        ] = {}  # sid -> the task closing it for a ping timeout

    def create_queue(self, *args: Any, **kwargs: Any) -> Any:
        """Each session's packet queue (python-engineio's documented factory): a `LeanQueue`, which holds no
        container while empty (an `asyncio.Queue` holds four, about 3 KB per session)."""
        if args or kwargs:
            return super().create_queue(*args, **kwargs)
        return LeanQueue[Any]()

    def session(self, sid: str) -> Any | None:
        return self.sockets.get(sid)

    def sessions(self) -> list[Any]:
        return list(self.sockets.values())

    def session_count(self) -> int:
        """Sessions the engine holds (open, or closed and not yet collected)."""
        return len(self.sockets)

    def forget_session(self, sid: str) -> Any | None:
        return self.sockets.pop(sid, None)

    async def refuse_session(self, environ: dict[str, Any]) -> Any | None:
        """None to open the session, else the response to answer the handshake with (a subclass decides)."""
        return None

    async def stop_service(self) -> None:
        """End the service task (python-socketio's `shutdown` would wait for its pass to finish), and the closes of
        timed-out sessions it started (one may wait on a Redis the worker is about to let go)."""
        handle = getattr(self, "service_task_handle", None)
        if handle is not None and not handle.done():
            handle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handle
        closing = list(self._timing_out.values())
        for task in closing:
            task.cancel()
        await asyncio.gather(*closing, return_exceptions=True)

    async def _service_task(self) -> None:
        """python-engineio's clean-up of sessions whose PING went unanswered (`check_ping_timeout`) and of closed
        ones, in one pass every `ping_timeout / SERVICE_PASSES` seconds. python-engineio's visits the sessions one
        at a time, `ping_timeout / len(sessions)` apart, each visit a `wait_for` (a task and a timer): 250 a second
        at 2000 sessions; and it awaits each timed-out session's close before it checks the next one."""
        self.service_task_event = event = self.create_event()
        period = self.ping_timeout / SERVICE_PASSES
        while not event.is_set():
            now = time.time()
            for sock in list(self.sockets.values()):
                if sock.closed:
                    self.sockets.pop(sock.sid, None)
                elif not sock.closing and sock.sid not in self._timing_out and self._ping_overdue(sock, now):
                    # its close runs the disconnect handlers, which may wait on Redis: in a task of its own, so
                    # that a mass timeout during a slow Redis delays no other session's check
                    self._timing_out[sock.sid] = self.start_background_task(self._time_out, sock)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=period)

    def _ping_overdue(self, sock: Any, now: float) -> bool:
        """python-engineio's test in `check_ping_timeout`, which decides again and closes (every session, where
        python-engineio has no `last_ping`: `check` warns then)."""
        last_ping = getattr(sock, "last_ping", now - self.ping_timeout - 1)
        return bool(last_ping) and now - last_ping > self.ping_timeout

    async def _time_out(self, sock: Any) -> None:
        try:
            if not (sock.closed or sock.closing):  # it may have ended since the pass saw it
                await sock.check_ping_timeout()
        except Exception:  # logged; the service goes on for the others
            log.exception("%s: the heartbeat check failed", sock.sid)
        finally:
            self._timing_out.pop(sock.sid, None)

    async def _handle_connect(self, environ: dict[str, Any], transport: str, jsonp_index: Any = None) -> Any:
        refusal = await self.refuse_session(environ)
        if refusal is not None:
            return refusal
        return await super()._handle_connect(environ, transport, jsonp_index)


# ---- the connection under a WebSocket ------------------------------------------------------------------


def websocket_transport(asgi_send: Any) -> asyncio.WriteTransport | None:
    """The asyncio transport behind uvicorn's ASGI `send` callable (compressed or not), or None if it is not
    uvicorn's websockets-sansio protocol (`send` is its bound method, the transport its `transport`)."""
    protocol = getattr(asgi_send, "__self__", None)
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(transport, "get_write_buffer_size"):
        return None
    return transport  # type: ignore[no-any-return]


def raw_transport(asgi_send: Any) -> asyncio.WriteTransport | None:
    """The transport raw frames may be written to: uvicorn's, with no extension (deflate) negotiated."""
    transport = websocket_transport(asgi_send)
    conn = getattr(getattr(asgi_send, "__self__", None), "conn", None)
    if transport is None or getattr(conn, "extensions", None):
        return None
    return transport


@functools.cache
def websocket_protocol() -> Any:
    """uvicorn's `ws=` setting for the chat: its websockets-sansio protocol (the one `websocket_transport` knows)
    with a `LeanQueue` for what it received and a `LeanEvent` for its writable flag (4 KB less per connection),
    which forgets its handshake once the connection is open.
    Each is left as uvicorn made it when it is not the asyncio object expected (another uvicorn); without the
    module, uvicorn's own name for the protocol (its error then says what is missing)."""
    base = getattr(_module(UVICORN_WEBSOCKET_MODULE), UVICORN_WEBSOCKET_CLASS, None)
    if not isinstance(base, type):
        return "websockets-sansio"

    class LeanWebSocketProtocol(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            queue = getattr(self, "queue", None)
            if type(queue) is asyncio.Queue and queue.empty():
                self.queue: LeanQueue[Any] = LeanQueue()
            writable = getattr(self, "writable", None)
            if type(writable) is asyncio.Event:
                lean = LeanEvent()
                if writable.is_set():
                    lean.set()
                self.writable = lean

        async def send(self, message: Any) -> None:
            await super().send(message)
            if message.get("type") == "websocket.accept" and getattr(self, "handshake_complete", False):
                # the parsed handshake request and response (their headers, 2-3 KB) are not read again once
                # the connection is open; the scope keeps the request's headers
                self.request = self.response = None

        # ---- the Engine.IO session it carries (LeanSocket): its PONGs ---------------------------------

        engineio_session: Any = None  # the LeanSocket whose handler reads this connection, while it does

        def send_receive_event_to_app(self) -> None:
            frames: list[bytes] = self.frames
            session = self.engineio_session
            if (
                session is not None
                and len(frames) == 1
                and frames[0] == PONG_TEXT
                and self.curr_msg_data_type == "text"
                and not self.close_sent
            ):
                self.frames: list[bytes] = []
                session.pong()
                return
            super().send_receive_event_to_app()

    return LeanWebSocketProtocol


PING_TEXT = "2"  # an Engine.IO PING's text (`Packet(PING).encode()`), made once
PONG_TEXT = b"3"  # an Engine.IO PONG, as the client sends it in a WebSocket text frame


# ---- python-socketio's server --------------------------------------------------------------------------

WebSocketOpened = Callable[[Any, Any], None]  # (Engine.IO session, the ASGI send callable)


def _websocket_class(base: type[Any], opened: WebSocketOpened) -> type[Any]:
    class RecordingWebSocket(base):  # type: ignore[misc]
        """python-engineio's ASGI WebSocket that tells `opened` which session and connection it serves."""

        handler: Any

        async def __call__(self, environ: dict[str, Any]) -> Any:
            # the request body reader python-engineio builds for every request (a class object of its own,
            # 2.6 KB) is never read on a WebSocket, and the environ lives as long as the connection
            environ.pop("wsgi.input", None)
            eio_socket = getattr(self.handler, "__self__", None)  # the handler is the session's bound method
            if eio_socket is not None:
                if lean_session(eio_socket):  # python-engineio bound its own handler before the class changed
                    self.handler = eio_socket._websocket_handler
                opened(eio_socket, environ.get("asgi.send"))
            return await super().__call__(environ)

    return RecordingWebSocket


class SocketIOServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's AsyncServer (ASGI) with its private seams as named hooks:

    - `write_text(eio_sid, text) -> bool`: every outgoing Engine.IO packet's text first; True when written
      (raw), False to let python-engineio queue it;
    - `socketio_connect(eio_sid, namespace, data)`: a Socket.IO CONNECT, answered by the subclass with
      `answer_connect` / `refuse_connect` (python-socketio's `connect` handlers are not called: `on("connect")`,
      `always_connect` and other namespaces are refused with `Unsupported`);
    - `session_opened(eio_sid)`: a new Engine.IO session; `websocket_opened(eio_socket, asgi_send)`: a session's
      WebSocket connection starts."""

    engine_class: type[EngineServer] = EngineServer

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("always_connect"):
            raise Unsupported("always_connect: this server answers CONNECT itself (see chat.events.admit)")
        namespaces = kwargs.get("namespaces")
        if namespaces not in (None, ["/"]):
            raise Unsupported(f"namespaces={namespaces!r}: this server serves the default namespace '/' only")
        super().__init__(async_mode="asgi", **kwargs)
        self.raw_path = check(self.eio)
        self.raw_path.warn()
        if (
            self.raw_path.active
        ):  # our WebSocket wrapper, only for this server (the driver table is module state)
            self.eio._async = dict(self.eio._async)
            self.eio._async["websocket"] = _websocket_class(
                self.eio._async["websocket"], self._websocket_opened
            )

    def on(self, event: str, handler: Any = None, namespace: str | None = None) -> Any:
        if event == "connect":
            raise Unsupported(
                "a 'connect' handler would never be called: this server answers CONNECT itself "
                "(the hook given to chat.engine.ChatServer.admit_with decides who is admitted)"
            )
        if (namespace or "/") != "/":
            raise Unsupported(f"namespace {namespace!r}: this server serves the default namespace '/' only")
        return super().on(event, handler, namespace)

    def register_namespace(self, namespace_handler: Any) -> None:
        raise Unsupported("class-based namespaces: register handlers on '/' with `on()` instead")

    # ---- hooks, for the subclass ----------------------------------------------------------------------

    def write_text(self, eio_sid: str, text: str) -> bool:
        return False

    async def socketio_connect(self, eio_sid: str, namespace: str, data: Any) -> None:
        raise NotImplementedError

    def session_opened(self, eio_sid: str) -> None:
        pass

    def websocket_opened(self, eio_socket: Any, asgi_send: Any) -> None:
        pass

    def _websocket_opened(self, eio_socket: Any, asgi_send: Any) -> None:
        if isinstance(eio_socket, LeanSocket):  # its PINGs go the way of every other packet (`write_text`)
            eio_socket.write_text = functools.partial(self.write_text, eio_socket.sid)
        self.websocket_opened(eio_socket, asgi_send)

    # ---- what the hooks call --------------------------------------------------------------------------

    async def open_connection(self, eio_sid: str, namespace: str) -> str:
        """A Socket.IO sid for the session in `namespace`, not yet connected (python-socketio's pre-connect)."""
        sid: str = await self.manager.pre_connect(eio_sid, namespace)
        return sid

    async def answer_connect(self, eio_sid: str, sid: str, namespace: str, data: dict[str, Any]) -> None:
        """The CONNECT answer (`data` is its payload, with the sid), then the connection counts as connected."""
        await self._send_packet(eio_sid, self.packet_class(packet.CONNECT, data, namespace=namespace))
        await self.manager.connect(sid, namespace)

    async def refuse_connect(self, eio_sid: str, sid: str, namespace: str, error: Any) -> None:
        await self._send_packet(
            eio_sid, self.packet_class(packet.CONNECT_ERROR, data=error, namespace=namespace)
        )
        await self.manager.disconnect(sid, namespace, ignore_queue=True)

    async def refuse_namespace(self, eio_sid: str, namespace: str) -> None:
        await self._send_packet(
            eio_sid, self.packet_class(packet.CONNECT_ERROR, data="Invalid namespace", namespace=namespace)
        )

    def sid_of(self, eio_sid: str, namespace: str = "/") -> str | None:
        sid: str | None = self.manager.sid_from_eio_sid(eio_sid, namespace)
        return sid

    def eio_sid_of(self, sid: str, namespace: str = "/") -> str | None:
        eio_sid: str | None = self.manager.eio_sid_from_sid(sid, namespace)
        return eio_sid

    def environ_of(self, eio_sid: str) -> dict[str, Any]:
        environ: dict[str, Any] = self.environ[eio_sid]
        return environ

    # ---- python-socketio's private methods, routed to the hooks ---------------------------------------

    def _engineio_server_class(self) -> type[EngineServer]:
        return self.engine_class

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        encoded = pkt.encode()
        if isinstance(encoded, str) and self.write_text(eio_sid, "4" + encoded):
            return
        await super()._send_packet(eio_sid, pkt)

    async def _send_eio_packet(self, eio_sid: str, eio_pkt: Any) -> None:
        encoded = eio_pkt.encode()
        if isinstance(encoded, str) and self.write_text(eio_sid, encoded):
            return
        await super()._send_eio_packet(eio_sid, eio_pkt)

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        result = await super()._handle_eio_connect(eio_sid, environ)
        self.session_opened(eio_sid)
        return result

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        await self.socketio_connect(eio_sid, namespace or "/", data)


# ---- python-socketio's client --------------------------------------------------------------------------


class SocketIOClient(socketio.AsyncClient):  # type: ignore[misc]
    """python-socketio's AsyncClient with two hooks: `connect_answered(namespace, data)` sees the CONNECT
    answer's payload; `event_arguments(data)` may change an event's arguments before the handlers see them."""

    def connect_answered(self, namespace: str | None, data: Any) -> None:
        pass

    def event_arguments(self, data: list[Any]) -> list[Any]:
        return data

    async def _handle_connect(self, namespace: str | None, data: Any) -> None:
        self.connect_answered(namespace, data)
        await super()._handle_connect(namespace, data)

    async def _handle_event(self, namespace: str | None, id: int | None, data: list[Any]) -> None:
        await super()._handle_event(namespace, id, self.event_arguments(data))

    async def disconnect_flushed(self, timeout: float) -> None:
        """Send every namespace's DISCONNECT and wait (up to `timeout`) until it is written, then close.

        python-socketio queues the DISCONNECT packet and closes the WebSocket at once, so the packet is often
        lost and the server sees a dropped connection instead of a logout."""
        for namespace in self.namespaces:
            await self._send_packet(self.packet_class(packet.DISCONNECT, namespace=namespace))
        if self.eio.state == "connected":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.eio.queue.join(), timeout)
        await self.eio.disconnect()


# ---- uvicorn ---------------------------------------------------------------------------------------------


class EmbeddableServer(uvicorn.Server):
    """uvicorn's server without its own signal handlers: whoever embeds the worker owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listening_port(server: uvicorn.Server) -> int:
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


def stop_listening(server: uvicorn.Server) -> None:
    """Take no more connections (those open stay)."""
    for listener in server.servers:
        listener.close()


def abort_connections(server: uvicorn.Server) -> None:
    """Drop every open connection, telling nobody."""
    for connection in list(server.server_state.connections):
        transport = getattr(connection, "transport", None)
        if transport is not None:
            transport.abort()

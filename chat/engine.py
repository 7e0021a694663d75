"""`ChatServer`: python-socketio's AsyncServer with three of its seams filled in.

- **Frames once, raw writes.** Every packet to a client already on WebSocket is framed by `chat.wire` and
  written straight to its transport (`write_text`, the hook `chat._compat.SocketIOServer` calls for every
  packet); a broadcast is framed once for all of its recipients by `chat.delivery`. Clients still on long-polling go through python-engineio as before.
- **Connection-state recovery (Socket.IO protocol v5).** The CONNECT answer carries a private session id
  (`pid`); a client reconnecting with `{pid, offset}` in its auth payload gets the same `pid` back (the official
  JavaScript client then reports `socket.recovered === true`); what it missed follows (`Admission.after`). The
  decision is the connect hook's (`admit_with`, see `chat.events`); this class only speaks the protocol.
- **Slow consumers are cut off** instead of growing a queue without bound: on the raw path by the bytes waiting in
  the connection's transport, everywhere else (long-polling, WebSocket with permessage-deflate, the upgrade) by the
  bytes waiting in python-engineio's per-socket queue (`ChatEngine.send_packet`).
- **Every session is bounded** (`ChatEngine`): `MAX_CONNECTIONS` counts Engine.IO sessions (a handshake past it is
  answered 503 "server full"), a session that sends no Socket.IO CONNECT within `CONNECT_TIMEOUT` is closed, a
  polling POST announcing more than `MAX_PACKET_BYTES` is answered 413 before its body is read (uvicorn's
  `ws_max_size`, set to the same value by `chat.server`, closes a too-big WebSocket message with 1009).
- **Same-origin by default** (`OriginCheck`): a browser page on another site cannot open a session; requests
  without an Origin header (non-browser clients) are not affected.

Every library internal it relies on is reached through `chat._compat` (which names the versions it was checked
against and turns python-socketio's private seams into the hooks overridden here); when the raw write path is
off there (`ChatServer.raw_path`), every packet simply goes through python-engineio's queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from socketio import exceptions

from chat import _compat
from chat.config import origin_of
from chat.wire import RawSocket, SlowConsumer, text_frame

log = logging.getLogger("chat.engine")

CLOSE_SLOW_CONSUMER = 4008  # WebSocket close code sent to a client that stopped reading
CLOSE_SERVICE_RESTART = 1012  # RFC 6455: "service restart", the client should reconnect
CLOSE_CONNECT_TIMEOUT = 1008  # RFC 6455: "policy violation": no Socket.IO CONNECT in time
CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455 (IANA registry): "try again later": the worker is full
ABORT_AFTER = _compat.ABORT_AFTER  # seconds a closed connection may take to flush before it is dropped
DEFAULT_PORT_SUFFIXES = (":80", ":443")


def close_frame(code: int, reason: str) -> bytes:
    body = code.to_bytes(2, "big") + reason.encode()[:120]
    return bytes((0x88, len(body))) + body


def close_transport(
    transport: asyncio.WriteTransport, code: int, reason: str, abort_after: float | None
) -> None:
    """A WebSocket close frame written behind whatever is queued, then the connection closed (and dropped after
    `abort_after` seconds if the client does not read). A control frame is never compressed, so this is valid on
    a permessage-deflate connection too."""
    if transport.is_closing():
        return
    transport.write(close_frame(code, reason))
    transport.close()
    if abort_after is not None:
        asyncio.get_running_loop().call_later(abort_after, transport.abort)


def _host(value: str) -> str:
    host = value.split(",")[0].strip().lower()
    for suffix in DEFAULT_PORT_SUFFIXES:
        if host.endswith(suffix):
            return host.removesuffix(suffix)
    return host


class OriginCheck:
    """python-engineio's `cors_allowed_origins` as a callable (its documented form): a request whose Origin
    header names the host it was sent to (Host, or X-Forwarded-Host) is the page's own, whatever the scheme (TLS
    ends at the ALB or at CloudFront, which reaches the ALB over plain HTTP in cloudformation/cloudfront.yml, so
    X-Forwarded-Proto says http while the page is https); `allowed` (ALLOWED_ORIGINS) adds exact origins. An
    opaque origin (`null`) is refused. python-engineio only asks when the request carries an Origin header: a
    non-browser client sends none and is not affected."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = frozenset(allowed)

    def __call__(self, origin: str | None, environ: dict[str, Any] | None = None) -> bool:
        if not origin:
            return True
        normal = origin_of(origin)
        if normal is None:
            return False
        if normal in self.allowed:
            return True
        environ = environ or {}
        hosts = {_host(environ[key]) for key in ("HTTP_HOST", "HTTP_X_FORWARDED_HOST") if environ.get(key)}
        return _host(normal.split("://", 1)[1]) in hosts


def _packet_size(pkt: Any) -> int:
    data = pkt.data
    if isinstance(data, str | bytes):
        return len(data) + 1
    return 64  # an Engine.IO control packet


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class ChatEngine(_compat.EngineServer):
    """python-engineio's AsyncServer with every session bounded (see the module's docstring).

    Configured after construction by `ChatServer` (python-socketio builds it from its own keyword arguments)."""

    max_unsent_bytes: int = 1 << 62
    max_sessions: int | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slow_consumers_cut = 0
        self.refused_full = 0
        self.oversized_posts = 0
        self.connect_timeouts = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """A named, referenced background task whose failure is logged."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed: %r", task.get_name(), task.exception())

    def open_sessions(self) -> int:
        return sum(1 for sock in self.sessions() if not _compat.is_closed(sock))

    # ---- limits on what a client may send -----------------------------------------------------------

    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        """A polling POST announcing a body over the packet limit is answered 413 before anything is read."""
        if len(args) == 3 and not kwargs:
            scope, _receive, send = args
            if scope.get("type") == "http" and scope.get("method") == "POST":
                announced = _content_length(scope)
                if announced is not None and announced > self.max_http_buffer_size:
                    await self._too_large(scope, send, announced)
                    return None
        return await super().handle_request(*args, **kwargs)

    async def _too_large(self, scope: dict[str, Any], send: Any, announced: int) -> None:
        self.oversized_posts += 1
        body = f"packet too large: {announced} bytes announced, the limit is {self.max_http_buffer_size}\n"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})
        # the packet is lost: like a WebSocket closed with 1009, the session ends (the client reconnects)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        sock = self.session((query.get("sid") or [""])[0])
        if sock is not None:
            await self.end_session(sock, 1009, "message too big")

    # ---- sessions -----------------------------------------------------------------------------------

    async def refuse_session(self, environ: dict[str, Any]) -> Any | None:
        """A new Engine.IO session, refused with 503 when MAX_CONNECTIONS sessions are open."""
        limit = self.max_sessions
        if limit is not None and self.session_count() >= limit and self.open_sessions() >= limit:
            self.refused_full += 1
            return await self._refuse_full(environ, f"server full: {limit} connections on this worker")
        return None

    async def _refuse_full(self, environ: dict[str, Any], message: str) -> Any:
        scope = environ.get("asgi.scope", {})
        if scope.get("type") == "websocket":
            # accepted, then closed with 1013 "try again later" and the reason: a browser's script sees both in
            # the close event (a refused handshake would only show as error 1006)
            send = environ["asgi.send"]
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER, "reason": message})
            return ""  # python-engineio returns a non-dict response as it is: nothing more is sent
        return {
            "status": "503 SERVICE UNAVAILABLE",
            "headers": [("Content-Type", "application/json"), ("Retry-After", "5")],
            "response": json.dumps(message).encode(),
        }

    async def send_packet(self, sid: str, pkt: Any) -> None:
        """Queue a packet for a client not on the raw path, cutting the client off once more than
        `max_unsent_bytes` wait for it (in the queue, plus its WebSocket transport's buffer)."""
        sock = self.session(sid)
        if sock is None or _compat.is_closing(sock) or getattr(sock, "ending", False):
            return  # gone, or being cut off: nothing more is queued for it
        unsent = (getattr(sock, "unsent", 0) if not _compat.queue_is_empty(sock) else 0) + _packet_size(pkt)
        sock.unsent = unsent  # a poll (GET, or the WebSocket writer) takes the whole queue at once
        transport = getattr(sock, "ws_transport", None)
        if transport is not None and _compat.on_websocket(sock):
            unsent += transport.get_write_buffer_size()
        if unsent > self.max_unsent_bytes:
            self.slow_consumers_cut += 1
            log.warning(
                "cutting off slow client %s: more than %d bytes waiting to be sent",
                sid,
                self.max_unsent_bytes,
            )
            await self.end_session(sock, CLOSE_SLOW_CONSUMER, "slow client")
            return
        await _compat.queue_packet(sock, pkt)

    async def end_session(self, sock: Any, code: int, reason: str) -> None:
        """End a session now: what waits for it is dropped; a WebSocket client gets a close frame (`code`,
        `reason`); a long-polling client gets an Engine.IO CLOSE on its pending or next poll."""
        if getattr(sock, "ending", False) or _compat.is_closed(sock):
            return
        sock.ending = True
        _compat.drop_queued(sock)
        transport = getattr(sock, "ws_transport", None)
        if transport is not None:
            # python-engineio's handler sees the connection end and closes the session ("transport close")
            close_transport(transport, code, reason, ABORT_AFTER)
            if _compat.on_websocket(sock):
                return
        await _compat.close_session(sock, self.reason.TRANSPORT_CLOSE)
        self.forget_session(sock.sid)

    async def disconnect(self, sid: str | None = None) -> None:
        """python-engineio calls this on a bad POST or GET; its own waits until the client polled the CLOSE
        packet, so a client that never polls would hold the request (and its connection) forever."""
        if sid is None:
            await super().disconnect()
            return
        sock = self.forget_session(sid)
        if sock is not None and not _compat.is_closed(sock):
            await _compat.close_session(sock, self.reason.SERVER_DISCONNECT)


@dataclass
class Admission:
    """What the connect hook decided: the session id to announce, and what to do once CONNECT is answered (a
    recovered client: write what it missed)."""

    pid: str
    recovered: bool = False
    after: Callable[[], Awaitable[None]] | None = None


ConnectHook = Callable[[str, dict[str, Any], Any], Awaitable[Admission]]


class ChatServer(_compat.SocketIOServer):
    """python-socketio's server for the chat (see the module's docstring). `raw_path` says whether frames are
    written straight to WebSocket transports (`chat._compat.check()` at construction, and at every new
    WebSocket connection)."""

    eio: ChatEngine
    engine_class = ChatEngine

    def __init__(
        self,
        *,
        max_unsent_bytes: int,
        connect_hook: ConnectHook | None = None,
        max_connections: int | None = None,
        connect_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._connect_hook = connect_hook
        self.max_unsent_bytes = max_unsent_bytes
        self.connect_timeout = connect_timeout
        self.eio.max_unsent_bytes = max_unsent_bytes
        self.eio.max_sessions = max_connections

    def admit_with(self, connect_hook: ConnectHook) -> None:
        """Who is admitted at Socket.IO CONNECT, and with what session (`chat.events.ChatEvents.admit`)."""
        self._connect_hook = connect_hook

    @property
    def slow_consumers_cut(self) -> int:
        return self.eio.slow_consumers_cut

    def websocket_opened(self, eio_socket: Any, asgi_send: Any) -> None:
        """Remember the connection's transport on its Engine.IO session (and a raw writer when frames may be
        written to it directly)."""
        eio_socket.ws_transport = transport = _compat.websocket_transport(asgi_send)
        if transport is None:
            self.raw_path.lost(
                "the transport behind the ASGI send callable of a WebSocket connection cannot be found "
                f"(uvicorn's {_compat.UVICORN_WEBSOCKET_CLASS}.transport)"
            )
            return
        raw = _compat.raw_transport(asgi_send)
        if raw is not None and self.raw_path.active:
            eio_socket.raw = RawSocket(eio_socket, raw, self.max_unsent_bytes)

    def session_opened(self, eio_sid: str) -> None:
        """A new Engine.IO session: it has `connect_timeout` seconds to send its Socket.IO CONNECT."""
        if self.connect_timeout is not None:
            asyncio.get_running_loop().call_later(self.connect_timeout, self._connect_deadline, eio_sid)

    def _connect_deadline(self, eio_sid: str) -> None:
        sock = self.eio.session(eio_sid)
        if sock is None or _compat.is_closing(sock):
            return
        if self.sid_of(eio_sid) is not None:
            return  # connected (or connecting) to the namespace
        self.eio.connect_timeouts += 1
        log.info("closing session %s: no Socket.IO CONNECT within %g s", eio_sid, self.connect_timeout)
        self.eio.spawn(
            self.eio.end_session(sock, CLOSE_CONNECT_TIMEOUT, "connect timeout"), f"connect-timeout:{eio_sid}"
        )

    def connected(self, eio_sid: str) -> bool:
        """The Engine.IO session is still open."""
        sock = self.eio.session(eio_sid)
        return sock is not None and not _compat.is_closed(sock)

    def raw_socket(self, eio_sid: str) -> RawSocket | None:
        """The raw writer of a client on WebSocket with nothing older queued, else None."""
        sock = self.eio.session(eio_sid)
        raw: RawSocket | None = getattr(sock, "raw", None)
        if raw is not None and raw.ready:
            return raw
        return None

    def cut_off(self, raw: RawSocket, reason: str) -> None:
        """Disconnect a client that cannot keep up: a close frame, then the connection is dropped."""
        if raw.transport.is_closing():
            return  # already cut off; its disconnect is on its way
        self.eio.slow_consumers_cut += 1
        log.warning("cutting off slow client %s: %s", raw.eio_socket.sid, reason)
        close_transport(raw.transport, CLOSE_SLOW_CONSUMER, "slow client", ABORT_AFTER)

    async def send_everyone_elsewhere(self) -> None:
        """Close every connection so that clients reconnect (to another target) and recover there.

        No Socket.IO or Engine.IO goodbye is sent: clients treat those as final and would not reconnect.
        WebSocket clients get close code 1012 (service restart); long-polling sessions are dropped, so their
        next poll fails and they reconnect."""
        for sock in self.eio.sessions():
            if _compat.is_closed(sock):
                continue
            transport: asyncio.WriteTransport | None = getattr(sock, "ws_transport", None)
            if transport is not None and _compat.on_websocket(
                sock
            ):  # raw or compressed: a close frame either way
                close_transport(transport, CLOSE_SERVICE_RESTART, "service restart", None)
            else:
                try:
                    await _compat.close_session(sock, None, abort=True)
                except Exception as exc:  # already gone
                    log.debug("closing %s: %s", sock.sid, exc)

    def write_frame(self, eio_sid: str, frame: bytes) -> bool:
        """Write a pre-framed packet if the client is on raw WebSocket; False if it must be queued."""
        raw = self.raw_socket(eio_sid)
        if raw is None:
            return False
        try:
            raw.write(frame)
        except SlowConsumer as exc:
            self.cut_off(raw, str(exc))
        return True

    def write_text(self, eio_sid: str, text: str) -> bool:
        return self.write_frame(eio_sid, text_frame(text))

    async def socketio_connect(self, eio_sid: str, namespace: str, data: Any) -> None:
        """Socket.IO CONNECT, with connection-state recovery and admission by `connect_hook`."""
        if namespace != "/":
            await self.refuse_namespace(eio_sid, namespace)
            return
        sid = await self.open_connection(eio_sid, namespace)
        try:
            if self._connect_hook is None:
                raise exceptions.ConnectionRefusedError("not ready")
            admission = await self._connect_hook(sid, self.environ_of(eio_sid), data)
        except exceptions.ConnectionRefusedError as exc:
            await self.refuse_connect(eio_sid, sid, namespace, exc.error_args)
            return
        await self.answer_connect(eio_sid, sid, namespace, {"sid": sid, "pid": admission.pid})
        if admission.after is not None:
            await admission.after()

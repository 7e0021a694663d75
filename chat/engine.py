"""`ChatServer`: python-socketio's AsyncServer with three of its seams filled in.

- **Frames once, raw writes.** Every packet to a client already on WebSocket is framed by `chat.wire` and
  written straight to its transport (`_send_packet`, `_send_eio_packet`); a broadcast is framed once for all
  of its recipients by `chat.fanout`. Clients still on long-polling go through python-engineio as before.
- **Connection-state recovery (Socket.IO protocol v5).** The CONNECT answer carries a private session id
  (`pid`); a client reconnecting with `{pid, offset}` in its auth payload gets the same `pid` back (the official
  JavaScript client then reports `socket.recovered === true`) followed by what it missed. The decision is the
  `connect_hook`'s (see `chat.events`); this class only speaks the protocol.
- **Slow consumers are cut off** instead of growing a queue without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from engineio.async_drivers.asgi import WebSocket as EngineIOWebSocket
from socketio import exceptions, packet

from chat.wire import RawSocket, SlowConsumer, text_frame, transport_of

log = logging.getLogger("chat.engine")

CLOSE_SLOW_CONSUMER = 4008  # WebSocket close code sent to a client that stopped reading
CLOSE_SERVICE_RESTART = 1012  # RFC 6455: "service restart", the client should reconnect


def close_frame(code: int, reason: str) -> bytes:
    body = code.to_bytes(2, "big") + reason.encode()[:120]
    return bytes((0x88, len(body))) + body


@dataclass
class Admission:
    """What the connect hook decided: the session id to announce, and the frames the client missed."""

    pid: str
    recovered: bool = False
    replay: list[bytes] = field(default_factory=list)
    after: Callable[[], Awaitable[None]] | None = None


ConnectHook = Callable[[str, dict[str, Any], Any], Awaitable[Admission]]


class ChatServer(socketio.AsyncServer):  # type: ignore[misc]
    def __init__(
        self, *, max_unsent_bytes: int, connect_hook: ConnectHook | None = None, **kwargs: Any
    ) -> None:
        super().__init__(async_mode="asgi", **kwargs)
        self.connect_hook = connect_hook
        self.max_unsent_bytes = max_unsent_bytes
        self.slow_consumers_cut = 0
        # our WebSocket wrapper, only for this server (the driver table is shared module state)
        self.eio._async = dict(self.eio._async)
        self.eio._async["websocket"] = self._websocket_class()

    def _websocket_class(self) -> type[EngineIOWebSocket]:
        limit = self.max_unsent_bytes

        class RecordingWebSocket(EngineIOWebSocket):  # type: ignore[misc]
            """Remembers the raw transport on the Engine.IO socket it serves."""

            async def __call__(self, environ: dict[str, Any]) -> Any:
                eio_socket = getattr(self.handler, "__self__", None)
                transport = transport_of(environ.get("asgi.send"))
                if eio_socket is not None and transport is not None:
                    eio_socket.raw = RawSocket(eio_socket, transport, limit)
                return await super().__call__(environ)

        return RecordingWebSocket

    def raw_socket(self, eio_sid: str) -> RawSocket | None:
        """The raw writer of a client on WebSocket with nothing older queued, else None."""
        sock = self.eio.sockets.get(eio_sid)
        raw: RawSocket | None = getattr(sock, "raw", None)
        if raw is not None and raw.ready:
            return raw
        return None

    def cut_off(self, raw: RawSocket, reason: str) -> None:
        """Disconnect a client that cannot keep up: a close frame, then the connection is dropped."""
        if raw.transport.is_closing():
            return  # already cut off; its disconnect is on its way
        self.slow_consumers_cut += 1
        log.warning("cutting off slow client %s: %s", raw.eio_socket.sid, reason)
        transport = raw.transport
        transport.write(close_frame(CLOSE_SLOW_CONSUMER, "slow client"))
        transport.close()
        asyncio.get_running_loop().call_later(5, transport.abort)

    async def send_everyone_elsewhere(self) -> None:
        """Close every connection so that clients reconnect (to another target) and recover there.

        No Socket.IO or Engine.IO goodbye is sent: clients treat those as final and would not reconnect.
        WebSocket clients get close code 1012 (service restart); long-polling sessions are dropped, so their
        next poll fails and they reconnect."""
        for sock in list(self.eio.sockets.values()):
            if sock.closed:
                continue
            raw: RawSocket | None = getattr(sock, "raw", None)
            if raw is not None and sock.upgraded and not raw.transport.is_closing():
                raw.transport.write(close_frame(CLOSE_SERVICE_RESTART, "service restart"))
                raw.transport.close()
            else:
                try:
                    await sock.close(wait=False, abort=True)
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

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        encoded = pkt.encode()
        if isinstance(encoded, str) and self.write_frame(eio_sid, text_frame("4" + encoded)):
            return
        await super()._send_packet(eio_sid, pkt)

    async def _send_eio_packet(self, eio_sid: str, eio_pkt: Any) -> None:
        encoded = eio_pkt.encode()
        if isinstance(encoded, str) and self.write_frame(eio_sid, text_frame(encoded)):
            return
        await super()._send_eio_packet(eio_sid, eio_pkt)

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        """Socket.IO CONNECT, with connection-state recovery and admission by `connect_hook`."""
        namespace = namespace or "/"
        if namespace != "/":
            await self._send_packet(
                eio_sid,
                self.packet_class(packet.CONNECT_ERROR, data="Invalid namespace", namespace=namespace),
            )
            return
        sid = await self.manager.pre_connect(eio_sid, namespace)
        try:
            if self.connect_hook is None:
                raise exceptions.ConnectionRefusedError("not ready")
            admission = await self.connect_hook(sid, self.environ[eio_sid], data)
        except exceptions.ConnectionRefusedError as exc:
            await self._send_packet(
                eio_sid, self.packet_class(packet.CONNECT_ERROR, data=exc.error_args, namespace=namespace)
            )
            await self.manager.disconnect(sid, namespace, ignore_queue=True)
            return
        await self._send_packet(
            eio_sid,
            self.packet_class(packet.CONNECT, {"sid": sid, "pid": admission.pid}, namespace=namespace),
        )
        await self.manager.connect(sid, namespace)
        for frame in admission.replay:
            if not self.write_frame(eio_sid, frame):
                await self.eio.send(eio_sid, frame_payload(frame))
        if admission.after is not None:
            await admission.after()


def frame_payload(frame: bytes) -> str:
    """The text inside a frame made by `text_frame` (to queue it for a long-polling client)."""
    size = frame[1] & 0x7F
    start = 2 if size < 126 else 4 if size == 126 else 10
    return frame[start:].decode()[1:]  # without the Engine.IO "4" (eio.send adds it back)

"""After a `101 Switching Protocols`: forward bytes both ways, unparsed, until either side closes.

The two connections are spliced at the transport level: each side's transport gets a small protocol that
writes whatever arrives straight to the other side's transport, with no coroutine in between (a
reader -> writer pump costs a task wake-up per chunk, which is most of a proxy's latency under fan-out).
Back-pressure is the transports' own: when one side's send buffer fills, reading from the other side pauses
until it drains. When one side ends, the other is closed too (a WebSocket's close handshake has already
happened by then).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from emulator.alb import _compat


class _Relay(asyncio.Protocol):
    """Reads one side, writes the other; pauses the other side's reading when its own send buffer is full."""

    def __init__(
        self, peer: asyncio.Transport, on_data: Callable[[], None], done: asyncio.Future[None]
    ) -> None:
        self.peer = peer
        self.on_data = on_data
        self.done = done

    def data_received(self, data: bytes) -> None:
        self.on_data()
        self.peer.write(data)

    def eof_received(self) -> bool:
        self._finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def pause_writing(self) -> None:  # our transport cannot take more: stop reading what feeds it
        with contextlib.suppress(RuntimeError):
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.peer.resume_reading()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _splice(
    reader: asyncio.StreamReader, transport: asyncio.Transport, peer: asyncio.Transport, relay: _Relay
) -> None:
    """Hand `transport` to `relay`, first forwarding what its stream reader had already buffered."""
    buffered = _compat.take_buffered(reader)  # bytes read from the socket but not yet consumed
    transport.set_protocol(relay)
    if buffered:
        relay.data_received(buffered)
    if reader.at_eof():
        relay.eof_received()
    with contextlib.suppress(RuntimeError):
        transport.resume_reading()  # the stream reader may have paused it


async def tunnel(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    target: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    name: str,
    on_data: Callable[[], None],
) -> None:
    """Relay client <-> target until one direction ends; then close both connections."""
    client_transport = client[1].transport
    target_transport = target[1].transport
    assert isinstance(client_transport, asyncio.Transport) and isinstance(target_transport, asyncio.Transport)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    try:
        _splice(client[0], client_transport, target_transport, _Relay(target_transport, on_data, done))
        _splice(target[0], target_transport, client_transport, _Relay(client_transport, on_data, done))
        await done
    finally:
        for transport in (client_transport, target_transport):
            transport.close()

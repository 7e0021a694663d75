"""One proxy -> target connection, kept alive across a client connection's requests to that target.

It is counted in the target group's `open_connections` from connect to close.
"""

from __future__ import annotations

import asyncio
import contextlib

import h11

from emulator.alb.target_group import TargetGroup


class Upstream:
    def __init__(
        self,
        target_group: TargetGroup,
        target_id: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.target_group = target_group
        self.target_id = target_id
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.CLIENT)
        self.requests = 0
        self._closed = False
        target_group.connection_opened(target_id)

    @classmethod
    async def connect(cls, target_group: TargetGroup, target_id: str, host: str, port: int) -> Upstream:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(target_group, target_id, reader, writer)

    @property
    def reusable(self) -> bool:
        """Idle, not closed by the target (e.g. its keep-alive timeout), and ready for a new request."""
        return (
            not self._closed
            and not self.writer.is_closing()
            and not self.reader.at_eof()
            and self.conn.our_state is h11.IDLE
            and self.conn.their_state is h11.IDLE
        )

    def finish_cycle(self) -> None:
        """After a response: keep the connection for the next request, or close it."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        else:
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.target_group.connection_closed(self.target_id)
        with contextlib.suppress(RuntimeError):  # the loop may already be closing
            self.writer.close()

    def abort(self) -> None:
        """Close at once, dropping unsent data (the deregistration delay ended, or the proxy stops)."""
        if not self._closed:
            self.writer.transport.abort()
        self.close()

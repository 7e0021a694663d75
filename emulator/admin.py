"""The emulator's admin edge: `AdminServer` (`GET /status` as JSON on a loopback port, for `chat-emulator status`
and the dashboard)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class AdminServer:
    """`GET /status` as JSON on a loopback port, for `chat-emulator status`."""

    def __init__(
        self, status: Callable[[], Awaitable[dict[str, Any]]], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._status = status
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, path, *_ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            if method == "GET" and path.split("?")[0] in ("/status", "/"):
                code, body = 200, json.dumps(await self._status(), default=str).encode()
            else:
                code, body = 404, b'{"error": "not found"}'
        except Exception as exc:
            log.exception("admin request failed")
            code, body = 500, json.dumps({"error": str(exc)}).encode()
        head = f"HTTP/1.1 {code} {'OK' if code == 200 else 'Error'}\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        with contextlib.suppress(OSError):
            writer.write(head.encode() + body)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

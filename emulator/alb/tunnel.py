"""After a `101 Switching Protocols`: forward bytes both ways, unparsed, until either side closes.

Two plain reader -> writer pumps with large reads; no framing, no per-byte work. When one side ends,
the other is closed too (a WebSocket's close handshake has already happened by then).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from emulator.alb.http import READ_SIZE
from emulator.tasks import TaskSet


async def pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, on_data: Callable[[], None]
) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(READ_SIZE):
            on_data()
            writer.write(data)
            await writer.drain()


async def tunnel(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    target: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    name: str,
    on_data: Callable[[], None],
) -> None:
    """Pump client <-> target until one direction ends; then close both writers."""
    tasks = TaskSet()
    up = tasks.spawn(pump(client[0], target[1], on_data), f"{name}-up")
    down = tasks.spawn(pump(target[0], client[1], on_data), f"{name}-down")
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for _, writer in (client, target):
            with contextlib.suppress(RuntimeError):
                writer.close()
        await tasks.cancel_all()

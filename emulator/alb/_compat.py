"""The load balancer's one seam to a library internal: the bytes an `asyncio.StreamReader` has read from its
socket but not yet handed out (`StreamReader._buffer`, a bytearray), which the tunnel forwards before it splices
the two transports (`emulator.alb.tunnel`). asyncio has no public way to take them without awaiting a read.

It is the emulator's own seam and not `chat._compat`: the ALB room imports only shared types, never the product
it balances (ARCHITECTURE.md, rooms). Checked against CPython 3.11.7 (`VERIFIED`); `check()` says what is missing.
"""

from __future__ import annotations

import asyncio

VERIFIED = "CPython 3.11.7: asyncio.StreamReader._buffer is a bytearray"
MISSING = f"asyncio.StreamReader._buffer is not a bytearray on this Python (verified: {VERIFIED})"


def check() -> str | None:
    """None when `take_buffered` can work on this Python, else what is missing."""
    loop = asyncio.new_event_loop()
    try:
        buffered = getattr(asyncio.StreamReader(loop=loop), "_buffer", None)
    finally:
        loop.close()
    return None if isinstance(buffered, bytearray) else MISSING


def take_buffered(reader: asyncio.StreamReader) -> bytes:
    """The bytes `reader` holds, read from the socket but not consumed; they are removed from the reader."""
    buffered = getattr(reader, "_buffer", None)
    if not isinstance(buffered, bytearray):
        raise RuntimeError(MISSING)
    data = bytes(buffered)
    buffered.clear()
    return data

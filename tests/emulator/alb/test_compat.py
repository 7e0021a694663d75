"""The load balancer's seam to asyncio's internals (emulator/alb/_compat.py)."""

from __future__ import annotations

import asyncio

import pytest

from emulator.alb import _compat


def test_the_stream_reader_buffer_is_there_on_this_python() -> None:
    assert _compat.check() is None


async def test_what_a_reader_buffered_is_taken_once() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"GET /next HTTP/1.1\r\n")
    assert _compat.take_buffered(reader) == b"GET /next HTTP/1.1\r\n"
    assert _compat.take_buffered(reader) == b""


def test_a_reader_without_the_buffer_is_refused_clearly() -> None:
    class Reader:
        pass

    with pytest.raises(RuntimeError, match=r"StreamReader\._buffer"):
        _compat.take_buffered(Reader())  # type: ignore[arg-type]

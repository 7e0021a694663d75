"""One client connection through real sockets, seen from a target that records the wire: request bodies
stream to the target as they arrive; an ambiguously framed request (Content-Length and Transfer-Encoding)
reaches the target with one framing header and both connections close after it; hop-by-hop headers stop at the
proxy; an HTTP request without a Host header is refused with 400."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import h11
import pytest

from emulator.alb import HealthCheckResult, LoadBalancer, TargetGroup

from .conftest import RecordingTarget


@asynccontextmanager
async def through(
    alb_settings: Any, balancer_for: Any, recording_target: Any
) -> AsyncIterator[tuple[RecordingTarget, TargetGroup, LoadBalancer]]:
    async with recording_target() as target, balancer_for(alb_settings(), []) as (tg, lb):
        tg.register("rec", "127.0.0.1", target.port)
        tg.record_health("rec", HealthCheckResult(True))  # one passing check: healthy
        yield target, tg, lb


async def read_response(reader: asyncio.StreamReader) -> tuple[h11.Response, bytes, bool]:
    """One response from the load balancer: (head, body, whether the connection then closed)."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "lb")]))
    conn.send(h11.EndOfMessage())
    head: h11.Response | None = None
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await asyncio.wait_for(reader.read(65536), 10))
        elif isinstance(event, h11.Response):
            head = event
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            break
        else:
            raise AssertionError(f"unexpected {event!r}")
    assert head is not None
    closed = conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE
    return head, body, closed


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
async def test_a_request_body_reaches_the_target_while_the_client_is_still_sending_it(
    framing: str, alb_settings: Any, balancer_for: Any, recording_target: Any
) -> None:
    chunk = bytes(range(256)) * 256  # 64 KiB
    count = 32  # 2 MiB in all
    async with through(alb_settings, balancer_for, recording_target) as (target, _, lb):
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.port)
        if framing == "chunked":
            writer.write(b"POST /upload HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n")
        else:
            writer.write(
                b"POST /upload HTTP/1.1\r\nHost: lb\r\nContent-Length: %d\r\n\r\n" % (len(chunk) * count)
            )
        for index in range(count):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if framing == "chunked" else chunk)
            await writer.drain()
            # The next chunk leaves only once the target holds this one: the proxy never keeps more than one
            # chunk of the body, however large the body is.
            await asyncio.wait_for(target.wait_received((index + 1) * len(chunk)), 10)
            assert target.requests[0].done is (framing == "content-length" and index == count - 1)
        if framing == "chunked":
            writer.write(b"0\r\n\r\n")
        head, body, closed = await read_response(reader)
        assert (head.status_code, body, closed) == (200, str(len(chunk) * count).encode(), False)
        assert target.requests[0].body == chunk * count
        writer.write(b"GET /after HTTP/1.1\r\nHost: lb\r\n\r\n")  # the connection carries another request
        head, body, _ = await read_response(reader)
        writer.close()
    assert (head.status_code, body) == (200, b"0")
    assert [r.target for r in target.requests] == [b"/upload", b"/after"]
    assert target.connections == 1


async def test_content_length_and_transfer_encoding_pass_as_one_framing_header_then_both_connections_close(
    alb_settings: Any, balancer_for: Any, recording_target: Any
) -> None:
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: lb\r\n\r\n"
    body = b"5\r\nhello\r\n0\r\n\r\n" + smuggled  # by Content-Length the request would run into the GET
    async with through(alb_settings, balancer_for, recording_target) as (target, tg, lb):
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.port)
        writer.write(
            b"POST /upload HTTP/1.1\r\nHost: lb\r\nContent-Length: %d\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n%s" % (len(body), body)
        )
        head, answer, closed = await read_response(reader)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # the load balancer closed the connection
        writer.close()
        assert tg.describe()[0].open_connections == 0  # and its connection to the target
    assert (head.status_code, answer, closed) == (200, b"5", True)
    [seen] = target.requests  # the GET that followed the chunked body was never forwarded
    names = [key.lower() for key, _ in seen.headers]
    assert names.count(b"transfer-encoding") == 1
    assert b"content-length" not in names
    assert seen.body == b"hello"
    assert seen.header(b"connection") == [b"close"]


async def test_hop_by_hop_headers_stop_at_the_load_balancer(
    alb_settings: Any, balancer_for: Any, recording_target: Any
) -> None:
    async with through(alb_settings, balancer_for, recording_target) as (target, _, lb):
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.port)
        writer.write(
            b"GET /headers HTTP/1.1\r\nHost: lb\r\n"
            b"Connection: keep-alive, Upgrade, HTTP2-Settings, X-Hop\r\n"
            b"Keep-Alive: timeout=5\r\n"
            b"Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
            b"Proxy-Connection: keep-alive\r\n"
            b"TE: trailers\r\n"
            b"Trailer: X-Checksum\r\n"
            b"Upgrade: h2c\r\n"
            b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
            b"X-Hop: listed in Connection\r\n"
            b"X-End-To-End: kept\r\n\r\n"
        )
        head, _, closed = await read_response(reader)
        writer.close()
    assert (head.status_code, closed) == (200, False)  # an h2c upgrade is a plain request to the ALB
    [seen] = target.requests
    names = {key.lower() for key, _ in seen.headers}
    stripped = {
        b"connection",
        b"keep-alive",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"upgrade",
        b"http2-settings",
        b"x-hop",
    }
    assert names & stripped == set()
    assert seen.header(b"x-end-to-end") == [b"kept"]
    assert seen.header(b"host") == [b"lb"]


async def test_a_request_without_a_host_header_gets_a_400(
    alb_settings: Any, balancer_for: Any, recording_target: Any
) -> None:
    answers = []
    async with through(alb_settings, balancer_for, recording_target) as (target, _, lb):
        for request in (
            b"GET /no-host HTTP/1.0\r\n\r\n",
            b"GET /no-host HTTP/1.1\r\n\r\n",  # h11 refuses this one itself
            b"GET /two-hosts HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET /with-host HTTP/1.0\r\nHost: lb\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", lb.port)
            writer.write(request)
            answers.append(await asyncio.wait_for(reader.read(), 10))
            writer.close()
    assert [a.split(b"\r\n")[0] for a in answers] == [
        b"HTTP/1.1 400 Bad Request",
        b"HTTP/1.1 400 Bad Request",
        b"HTTP/1.1 400 Bad Request",
        b"HTTP/1.1 200 ",
    ]
    assert [r.target for r in target.requests] == [b"/with-host"]


async def test_a_target_that_answers_before_reading_the_whole_body_is_heard(
    alb_settings: Any, balancer_for: Any
) -> None:
    async def refuse_uploads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n"
        )
        writer.write_eof()  # as servers do: answer, half-close, and discard the rest until the peer closes
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass
        writer.close()

    server = await asyncio.start_server(refuse_uploads, "127.0.0.1", 0)
    total = 32 * 2**20
    try:
        async with balancer_for(alb_settings(), []) as (tg, lb):
            tg.register("refuser", "127.0.0.1", server.sockets[0].getsockname()[1])
            tg.record_health("refuser", HealthCheckResult(True))
            reader, writer = await asyncio.open_connection("127.0.0.1", lb.port)
            writer.write(b"POST /upload HTTP/1.1\r\nHost: lb\r\nContent-Length: %d\r\n\r\n" % total)

            async def upload() -> None:
                chunk = bytes(65536)
                with contextlib.suppress(ConnectionError):
                    for _ in range(total // len(chunk)):
                        writer.write(chunk)
                        await writer.drain()

            sending = asyncio.get_running_loop().create_task(upload(), name="test-upload")
            head, body, closed = await read_response(reader)
            sending.cancel()
            writer.close()
    finally:
        server.close()
        await server.wait_closed()
    assert (head.status_code, body, closed) == (413, b"too big\n", True)

"""The load balancer through real sockets: round robin, AWSALB stickiness, re-pick, fail open, 502/503,
X-Forwarded-*, keep-alive, concurrent long polls, and the CloudFront-without-cookies mode."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from emulator.alb import HealthCheckResult, TargetState
from emulator.alb.target_group import RESPONSE_CODE_MISMATCH
from emulator.clock import Clock, ScaledClock, VirtualClock, WallClock

FAIL = HealthCheckResult(False, RESPONSE_CODE_MISMATCH, "503")


def client(url: str, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=10, **kwargs)


async def whoami(http: httpx.AsyncClient, path: str = "/whoami") -> str:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["x-backend"] == response.text
    return response.text


def awsalb(response: httpx.Response) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith("AWSALB")]


async def test_round_robin_per_request_on_one_keep_alive_connection(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    async with (
        backends(3) as bs,
        balancer_for(alb_settings(), bs) as (_, lb),
        client(lb.url, limits=httpx.Limits(max_connections=1)) as http,
    ):
        seen = [await whoami(http) for _ in range(6)]
        assert len(lb.sessions) == 1  # one client connection carried them all
        assert not awsalb(await http.get("/whoami"))  # stickiness off: no cookie
    assert seen == ["b0", "b1", "b2", "b0", "b1", "b2"]


async def test_sticky_clients_stay_on_their_target(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    async with (
        backends(2) as bs,
        balancer_for(alb_settings(sticky=True), bs) as (_, lb),
        client(lb.url) as alice,
        client(lb.url) as bob,
    ):
        alice_seen = {await whoami(alice) for _ in range(15)}
        bob_seen = {await whoami(bob) for _ in range(15)}
    assert len(alice_seen) == 1 and len(bob_seen) == 1
    assert alice_seen != bob_seen  # separate cookie jars, spread by round robin


async def test_the_cookie_expiry_is_renewed_on_every_response(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    now = [1_800_000_000.0]
    settings = alb_settings(sticky=True, duration=3600)
    async with (
        backends(1) as bs,
        balancer_for(settings, bs, wall_time=lambda: now[0]) as (_, lb),
        client(lb.url) as http,
    ):
        for step in range(3):
            now[0] += 100 * step
            response = await http.get("/whoami")
            sticky, cors = awsalb(response)
            expires = parsedate_to_datetime(sticky.split("Expires=")[1].split(";")[0]).timestamp()
            assert expires == now[0] + 3600
            assert cors.startswith("AWSALBCORS=") and "SameSite=None" in cors and "Secure" in cors
            assert response.headers.get_list("set-cookie")  # the app's own cookies pass too


async def test_re_pick_when_the_sticky_target_turns_unhealthy_or_drains(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    async with (
        backends(3) as bs,
        balancer_for(alb_settings(sticky=True), bs) as (tg, lb),
        client(lb.url) as http,
    ):
        first = await whoami(http)
        for _ in range(2):
            tg.record_health(first, FAIL)
        assert tg.state(first) is TargetState.UNHEALTHY
        second = await whoami(http)
        assert second != first
        assert {await whoami(http) for _ in range(5)} == {second}  # the rewritten cookie sticks
        tg.deregister(second)
        third = await whoami(http)
        assert third not in (first, second)
        assert {await whoami(http) for _ in range(5)} == {third}


async def test_fail_open_when_every_target_is_unhealthy(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    async with backends(2) as bs, balancer_for(alb_settings(), bs) as (tg, lb):
        for backend in bs:
            for _ in range(2):
                tg.record_health(backend.target_id, FAIL)
        async with client(lb.url) as http:
            assert {await whoami(http) for _ in range(4)} == {"b0", "b1"}


async def test_503_without_a_routable_target(alb_settings: Any, backends: Any, balancer_for: Any) -> None:
    async with backends(1) as bs, balancer_for(alb_settings(), []) as (tg, lb), client(lb.url) as http:
        response = await http.get("/whoami")
        assert response.status_code == 503
        assert response.headers["server"] == "awselb/2.0"
        assert response.text.startswith("503")
        tg.register("b0", "127.0.0.1", bs[0].port)
        tg.deregister("b0")
        assert (await http.get("/whoami")).status_code == 503  # draining targets take no new requests
        assert bs[0].requests == 0


async def test_502_when_the_target_refuses_the_connection(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    async with backends(1) as bs, balancer_for(alb_settings(), bs) as (_, lb):
        await bs[0].stop()
        async with client(lb.url) as http:
            response = await http.get("/whoami")
    assert response.status_code == 502
    assert response.text.startswith("502")


async def test_502_when_the_target_breaks_the_request(alb_settings: Any, balancer_for: Any) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        async with balancer_for(alb_settings(), []) as (tg, lb):
            tg.register("broken", "127.0.0.1", server.sockets[0].getsockname()[1])
            tg.record_health("broken", HealthCheckResult(True))  # one passing check: healthy
            async with client(lb.url) as http:
                assert (await http.post("/x", content=b"hello")).status_code == 502
                assert (await http.get("/x")).status_code == 502  # the client connection survives
    finally:
        server.close()
        await server.wait_closed()


async def test_forwarded_headers_and_hop_by_hop(alb_settings: Any, backends: Any, balancer_for: Any) -> None:
    async with backends(1) as bs, balancer_for(alb_settings(), bs) as (_, lb), client(lb.url) as http:
        response = await http.get(
            "/headers", headers={"X-Forwarded-For": "203.0.113.9", "Keep-Alive": "timeout=5"}
        )
    seen = json.loads(response.text)
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-port"] == str(lb.port)
    assert "keep-alive" not in seen
    assert seen["host"] == f"127.0.0.1:{lb.port}"  # the client's Host header is kept


async def test_large_bodies_pass_both_ways(alb_settings: Any, backends: Any, balancer_for: Any) -> None:
    body = bytes(range(256)) * 8192  # 2 MiB
    async with backends(1) as bs, balancer_for(alb_settings(), bs) as (_, lb), client(lb.url) as http:
        response = await http.post("/push", content=body)
    assert response.content == b"b0:pushed:" + body


async def test_a_polling_client_keeps_a_get_open_while_it_posts(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    async with (
        backends(2) as bs,
        balancer_for(alb_settings(sticky=True), bs) as (_, lb),
        client(lb.url) as http,
    ):
        home = await whoami(http)
        poll = asyncio.get_running_loop().create_task(http.get("/poll"), name="test-long-poll")
        await asyncio.sleep(0.1)
        assert not poll.done()
        pushed = await http.post("/push", content=b"hi")
        polled = await asyncio.wait_for(poll, 10)
    assert pushed.text == f"{home}:pushed:hi"
    assert polled.text == f"{home}:polled"


async def test_drop_cookies_hides_cookies_so_stickiness_cannot_work(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    async with (
        backends(2) as bs,
        balancer_for(alb_settings(sticky=True), bs, drop_cookies=True) as (_, lb),
        client(lb.url) as http,
    ):
        first = await http.get("/set-cookie")
        assert first.headers.get_list("set-cookie") == []
        http.cookies.set("AWSALB", "anything")
        http.cookies.set("app", "1")
        headers = json.loads((await http.get("/headers")).text)
        seen = [await whoami(http) for _ in range(4)]
    assert "cookie" not in headers
    assert set(seen) == {"b0", "b1"}


async def test_least_outstanding_requests_avoids_the_busy_target(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    settings = alb_settings(algorithm="least_outstanding_requests")
    async with backends(2) as bs, balancer_for(settings, bs) as (tg, lb), client(lb.url) as http:
        slow = asyncio.get_running_loop().create_task(http.get("/slow"), name="test-slow")
        await asyncio.wait_for(bs[0].slow_started.wait(), 10)  # round robin's first pick
        assert [t.in_flight_requests for t in tg.describe()] == [1, 0]
        busy = "b0"
        assert {await whoami(http) for _ in range(4)} == {"b0", "b1"} - {busy}
        for backend in bs:
            backend.release.set()
        assert (await slow).text == busy


async def test_a_target_that_closed_its_kept_alive_connection_gets_a_fresh_one(
    alb_settings: Any, balancer_for: Any
) -> None:
    connections = 0

    async def one_answer_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # keep-alive, then hang up
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(one_answer_per_connection, "127.0.0.1", 0)
    try:
        async with balancer_for(alb_settings(), []) as (tg, lb), client(lb.url) as http:
            tg.register("flaky", "127.0.0.1", server.sockets[0].getsockname()[1])
            tg.record_health("flaky", HealthCheckResult(True))
            for _ in range(3):
                response = await http.get("/")
                assert (response.status_code, response.text) == (200, "ok")
                await asyncio.sleep(0.05)  # let the target's FIN arrive
    finally:
        server.close()
        await server.wait_closed()
    assert connections == 3


async def test_stopping_mid_request_ends_quietly(
    alb_settings: Any, backends: Any, balancer_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with backends(1) as bs, balancer_for(alb_settings(), bs) as (_, lb), client(lb.url) as http:
        slow = asyncio.get_running_loop().create_task(http.get("/slow"), name="test-slow")
        await asyncio.wait_for(bs[0].slow_started.wait(), 10)
        await lb.stop()
        bs[0].release.set()
        with pytest.raises(httpx.HTTPError):
            await slow
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_idle_connections_close_after_the_idle_timeout(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    clock = VirtualClock()
    async with backends(1) as bs, balancer_for(alb_settings(), bs, connection_clock=clock) as (_, lb):
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.port)
        writer.write(b"GET /whoami HTTP/1.1\r\nHost: lb\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        await clock.advance(30)
        assert len(lb.sessions) == 1
        await clock.advance(45)  # 60 s without a byte either way
        assert await asyncio.wait_for(reader.read(), 5) == b"b0"  # the body, then EOF
        writer.close()


@pytest.mark.parametrize(
    "clock", [WallClock(), ScaledClock(60), ScaledClock(3600)], ids=["1x", "60x", "3600x"]
)
async def test_the_idle_timeout_is_real_seconds_whatever_the_emulated_clock(
    alb_settings: Any, backends: Any, balancer_for: Any, clock: Clock
) -> None:
    """`up --time-scale 60` must not turn the ALB's idle timeout into 1 s: an idle connection is closed after
    the idle timeout in real seconds, neither sooner nor much later, however fast emulated time runs."""
    idle_timeout = 1.0
    async with (
        backends(1) as bs,
        balancer_for(alb_settings(), bs, clock=clock, idle_timeout_seconds=idle_timeout) as (_, lb),
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.port)
        writer.write(b"GET /whoami HTTP/1.1\r\nHost: lb\r\n\r\n")
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 10) == b"b0"  # the body, then EOF at the idle timeout
        idle_for = time.monotonic() - answered
        writer.close()
    assert idle_timeout * 0.9 <= idle_for < idle_timeout + 2.0


async def test_the_emulated_clock_running_ahead_closes_no_idle_connection(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    """An hour of emulated time passes in no real time: the kept-alive connection is still open and usable."""
    clock = VirtualClock()
    async with backends(1) as bs, balancer_for(alb_settings(), bs, clock=clock) as (_, lb):
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.port)
        writer.write(b"GET /whoami HTTP/1.1\r\nHost: lb\r\n\r\n")
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        assert await reader.readexactly(2) == b"b0"
        await clock.advance(3600)
        await asyncio.sleep(0.05)
        writer.write(b"GET /whoami HTTP/1.1\r\nHost: lb\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
    assert head.startswith(b"HTTP/1.1 200")


async def test_a_malformed_request_gets_a_400(alb_settings: Any, backends: Any, balancer_for: Any) -> None:
    async with backends(1) as bs, balancer_for(alb_settings(), bs) as (_, lb):
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.port)
        writer.write(b"NOT AN HTTP REQUEST\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert bs[0].requests == 0


async def test_draining_lets_requests_in_flight_finish_and_drops_idle_connections(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    async with (
        backends(2) as bs,
        balancer_for(alb_settings(delay=300), bs) as (tg, lb),
        client(lb.url) as idle,
        client(lb.url) as busy,
    ):
        assert await whoami(idle) == "b0"  # a kept-alive connection to b0, now idle
        assert await whoami(busy) == "b1"
        slow = asyncio.get_running_loop().create_task(busy.get("/slow"), name="test-slow")  # b0 again
        await asyncio.wait_for(bs[0].slow_started.wait(), 10)
        assert tg.describe(["b0"])[0].open_connections == 2
        tg.deregister("b0")
        assert tg.describe(["b0"])[0].open_connections == 1  # only the request in flight is left
        bs[0].release.set()
        assert (await slow).text == "b0"  # it completes on the draining target
        assert tg.describe(["b0"])[0].open_connections == 0
        assert await whoami(idle) == "b1"  # the idle client simply moves on


async def eventually(predicate: Any, what: str) -> None:
    """Wait (real time, bounded) until the proxy has caught up with what the test sent."""
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_a_request_head_sent_a_byte_at_a_time_gets_a_408_at_the_header_timeout(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    clock = VirtualClock()
    async with (
        backends(1) as bs,
        balancer_for(alb_settings(), bs, connection_clock=clock) as (_, lb),
    ):  # defaults: 60 s
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.port)
        sent = b""
        for byte in b"GET /whoami HTTP/1.1\r\n"[:14]:  # a slowloris: the head never ends
            writer.write(bytes([byte]))
            sent += bytes([byte])
            await eventually(
                lambda sent=sent: [s.conn.trailing_data[0] for s in lb.sessions] == [sent],
                "the proxy read the byte",
            )
            await clock.advance(5)  # a byte every 5 s: never idle for the 60 s idle timeout
        assert [s.writer.is_closing() for s in lb.sessions] == [False]  # 70 s after accept; checked at 60 s
        await clock.advance(10)  # 80 s: the check after the deadline (every 15 s) has run
        answer = await asyncio.wait_for(reader.read(), 5)  # the 408, then EOF
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"\r\nConnection: close\r\n" in answer
    assert bs[0].requests == 0


async def test_a_connection_that_sends_nothing_closes_at_the_header_timeout(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    clock = VirtualClock()
    async with (
        backends(1) as bs,
        balancer_for(alb_settings(), bs, connection_clock=clock, header_timeout_seconds=10) as (_, lb),
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.port)
        await eventually(lambda: len(lb.sessions) == 1, "the proxy accepted the connection")
        await clock.advance(5)
        assert [s.writer.is_closing() for s in lb.sessions] == [False]
        # 13 s: past the header timeout (checked every 2.5 s), well before the idle timeout
        await clock.advance(8)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed without a word
        writer.close()


async def test_the_header_timeout_covers_the_head_only(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    clock = VirtualClock()
    async with (
        backends(1) as bs,
        balancer_for(alb_settings(), bs, connection_clock=clock, header_timeout_seconds=10) as (_, lb),
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", lb.port)
        writer.write(b"POST /push HTTP/1.1\r\nHost: lb\r\nContent-Length: 4\r\n\r\n")
        await eventually(lambda: [s.head_started for s in lb.sessions] == [None], "the proxy read the head")
        for byte in b"body":  # a slow body: the idle timeout's business, not this one's
            await clock.advance(5)
            writer.write(bytes([byte]))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert await asyncio.wait_for(reader.readexactly(len(b"b0:pushed:body")), 5) == b"b0:pushed:body"
        await clock.advance(30)  # kept alive and silent for longer than the header timeout
        writer.write(b"GET /whoami HTTP/1.1\r\nHost: lb\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 ")
    assert bs[0].requests == 2

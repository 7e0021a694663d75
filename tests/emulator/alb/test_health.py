"""Health checks on a VirtualClock against real backends: thresholds, 503s, refused connections, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from emulator.alb import HealthChecker, TargetGroup, TargetState
from emulator.alb.health import parse_matcher
from emulator.alb.target_group import FAILED_HEALTH_CHECKS, RESPONSE_CODE_MISMATCH, TIMEOUT
from emulator.clock import VirtualClock

INTERVAL = 6


@asynccontextmanager
async def checking(tg: TargetGroup) -> AsyncIterator[HealthChecker]:
    checker = HealthChecker(tg, tg.clock)
    task = asyncio.get_running_loop().create_task(checker.run(), name="test-health-checker")
    try:
        yield checker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def next_round(clock: VirtualClock, checker: HealthChecker) -> None:
    done = checker.rounds
    await clock.advance(INTERVAL)
    await asyncio.wait_for(checker.wait_rounds(done + 1), 10)


def state(tg: TargetGroup, target_id: str) -> tuple[TargetState, str | None]:
    (description,) = tg.describe([target_id])
    return description.state, description.reason


async def test_healthy_after_one_check_then_unhealthy_on_503_then_back_after_threshold(
    alb_settings: Any, backends: Any
) -> None:
    """ALB guide: "After your target is registered, it must pass one health check to be considered healthy"."""
    clock = VirtualClock()
    tg = TargetGroup(alb_settings(healthy=3, unhealthy=2), clock)
    async with backends(1) as (backend,):
        tg.register("b0", "127.0.0.1", backend.port)
        assert state(tg, "b0")[0] is TargetState.INITIAL
        async with checking(tg) as checker:
            await asyncio.wait_for(checker.wait_rounds(1), 10)  # the first round runs at once
            assert state(tg, "b0") == (TargetState.HEALTHY, None)
            backend.health_status = 503
            await next_round(clock, checker)
            assert state(tg, "b0")[0] is TargetState.HEALTHY  # one failure is not enough
            await next_round(clock, checker)
            assert state(tg, "b0") == (TargetState.UNHEALTHY, RESPONSE_CODE_MISMATCH)
            backend.health_status = 200
            await next_round(clock, checker)
            await next_round(clock, checker)
            assert state(tg, "b0")[0] is TargetState.UNHEALTHY  # back needs HealthyThresholdCount (3)
            await next_round(clock, checker)
            assert state(tg, "b0")[0] is TargetState.HEALTHY


async def test_a_refused_connection_is_a_failed_health_check(alb_settings: Any, backends: Any) -> None:
    clock = VirtualClock()
    tg = TargetGroup(alb_settings(healthy=2, unhealthy=2), clock)
    async with backends(1) as (backend,):
        tg.register("b0", "127.0.0.1", backend.port)
        async with checking(tg) as checker:
            await asyncio.wait_for(checker.wait_rounds(1), 10)
            assert state(tg, "b0")[0] is TargetState.HEALTHY
            await backend.stop()  # SIGKILL-like: nothing listens any more
            await next_round(clock, checker)
            await next_round(clock, checker)
            assert state(tg, "b0") == (TargetState.UNHEALTHY, FAILED_HEALTH_CHECKS)


async def test_a_target_that_never_answers_times_out_on_the_clock(alb_settings: Any) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, never answer

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clock = VirtualClock()
    tg = TargetGroup(alb_settings(healthy=2, unhealthy=2), clock)
    tg.register("mute", "127.0.0.1", port)
    checker = HealthChecker(tg, clock)
    try:
        for _ in range(2):
            check = asyncio.get_running_loop().create_task(checker.check_all(), name="test-check-round")
            await asyncio.sleep(0.05)
            assert not check.done()  # waits for the clock, not the wall
            await clock.advance(5)
            await asyncio.wait_for(check, 10)
        assert state(tg, "mute") == (TargetState.UNHEALTHY, TIMEOUT)
    finally:
        server.close()
        await server.wait_closed()


async def test_draining_targets_are_not_checked(alb_settings: Any, backends: Any) -> None:
    clock = VirtualClock()
    tg = TargetGroup(alb_settings(delay=300), clock)
    async with backends(1) as (backend,):
        tg.register("b0", "127.0.0.1", backend.port)
        tg.connection_opened("b0")  # a client still connected: the target keeps draining
        tg.deregister("b0")
        backend.health_status = 500
        checker = HealthChecker(tg, clock)
        await checker.check_all()
        await checker.check_all()
        assert state(tg, "b0")[0] is TargetState.DRAINING
    await tg.close()


def test_matcher_syntax() -> None:
    assert parse_matcher("200") == {200}
    assert parse_matcher("200,202") == {200, 202}
    assert parse_matcher("200-204, 301") == {200, 201, 202, 203, 204, 301}


async def test_a_scaled_timeout_never_drops_below_the_real_time_floor(alb_settings: Any) -> None:
    """At a high time scale the template's 5 s timeout is milliseconds of real time; a slow-but-alive worker
    must still pass when the emulator sets a real-time floor."""
    from emulator.clock import ScaledClock

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.2)  # 200 ms of real time: far longer than 5 s at 1000x
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clock = ScaledClock(1000)
    try:
        for floor, expected in ((0.0, False), (1.0, True)):
            tg = TargetGroup(alb_settings(healthy=2, unhealthy=2), clock)
            tg.register("slow", "127.0.0.1", port)
            checker = HealthChecker(tg, clock, min_timeout_wall_seconds=floor)
            (target,) = tg.describe(["slow"])
            result = await checker.check(target)
            assert result.ok is expected, (floor, result)
    finally:
        server.close()
        await server.wait_closed()

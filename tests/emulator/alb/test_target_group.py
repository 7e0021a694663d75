"""Target states, threshold counting, draining on a VirtualClock, and state-change notifications."""

from __future__ import annotations

import asyncio

from emulator.alb import HealthCheckResult, TargetGroup, TargetState
from emulator.alb.target_group import (
    DEREGISTRATION_IN_PROGRESS,
    INITIAL_HEALTH_CHECKING,
    NOT_REGISTERED,
    REGISTRATION_IN_PROGRESS,
    RESPONSE_CODE_MISMATCH,
)
from emulator.clock import VirtualClock
from emulator.model import HealthCheck, TargetGroupSettings

OK = HealthCheckResult(True)
MISMATCH = HealthCheckResult(False, RESPONSE_CODE_MISMATCH, "Health checks failed with these codes: [503]")


def settings(healthy: int = 2, unhealthy: int = 2, delay: int = 300) -> TargetGroupSettings:
    check = HealthCheck("/healthz", 6, 5, healthy, unhealthy)
    return TargetGroupSettings("arn:tg", 8000, check, deregistration_delay_seconds=delay)


def group(**kwargs: int) -> tuple[TargetGroup, VirtualClock, list[tuple[str, TargetState, TargetState]]]:
    clock = VirtualClock()
    tg = TargetGroup(settings(**kwargs), clock)
    events: list[tuple[str, TargetState, TargetState]] = []
    tg.subscribe(lambda *event: events.append(event))
    return tg, clock, events


def only(tg: TargetGroup) -> tuple[TargetState, str | None]:
    (description,) = tg.describe()
    return description.state, description.reason


def test_a_new_target_is_healthy_after_one_passing_check() -> None:
    """ALB guide: "After your target is registered, it must pass one health check to be considered healthy"."""
    tg, _, events = group(healthy=5)
    tg.register("t1", "127.0.0.1", 9000)
    assert only(tg) == (TargetState.INITIAL, REGISTRATION_IN_PROGRESS)
    tg.record_health("t1", OK)
    assert only(tg) == (TargetState.HEALTHY, None)
    assert events == [
        ("t1", TargetState.UNUSED, TargetState.INITIAL),
        ("t1", TargetState.INITIAL, TargetState.HEALTHY),
    ]


def test_a_new_target_that_fails_stays_initial_until_the_unhealthy_threshold() -> None:
    tg, _, _ = group(healthy=5, unhealthy=3)
    tg.register("t1", "127.0.0.1", 9000)
    tg.record_health("t1", MISMATCH)
    tg.record_health("t1", MISMATCH)
    assert only(tg) == (TargetState.INITIAL, INITIAL_HEALTH_CHECKING)
    tg.record_health("t1", OK)  # its first pass: healthy, however many failed before
    assert only(tg)[0] is TargetState.HEALTHY
    other, _, _ = group(healthy=5, unhealthy=3)
    other.register("t2", "127.0.0.1", 9001)
    for _ in range(3):
        other.record_health("t2", MISMATCH)
    assert only(other) == (TargetState.UNHEALTHY, RESPONSE_CODE_MISMATCH)


def test_unhealthy_after_threshold_failures_and_back_after_threshold_consecutive_successes() -> None:
    tg, _, _ = group(healthy=3, unhealthy=3)
    tg.register("t1", "127.0.0.1", 9000)
    tg.record_health("t1", OK)
    tg.record_health("t1", MISMATCH)
    tg.record_health("t1", MISMATCH)
    assert only(tg)[0] is TargetState.HEALTHY
    tg.record_health("t1", MISMATCH)
    assert only(tg) == (TargetState.UNHEALTHY, RESPONSE_CODE_MISMATCH)
    tg.record_health("t1", OK)
    tg.record_health("t1", OK)
    tg.record_health("t1", MISMATCH)  # resets the run of successes
    tg.record_health("t1", OK)
    tg.record_health("t1", OK)
    assert only(tg)[0] is TargetState.UNHEALTHY
    tg.record_health("t1", OK)
    assert only(tg)[0] is TargetState.HEALTHY


async def test_deregistered_target_drains_for_the_delay_then_is_unused() -> None:
    tg, clock, events = group(delay=30)
    tg.register("t1", "127.0.0.1", 9000)
    tg.connection_opened("t1")  # a client that stays connected (a WebSocket) for the whole delay
    tg.deregister("t1")
    assert only(tg) == (TargetState.DRAINING, DEREGISTRATION_IN_PROGRESS)
    tg.record_health("t1", OK)  # health checks no longer apply
    await asyncio.sleep(0)
    await clock.advance(29)
    assert only(tg)[0] is TargetState.DRAINING
    assert tg.describe()[0].open_connections == 1
    await clock.advance(1)
    assert tg.describe() == []
    (gone,) = tg.describe(["t1"])
    assert (gone.state, gone.reason) == (TargetState.UNUSED, NOT_REGISTERED)
    assert events[-1] == ("t1", TargetState.DRAINING, TargetState.UNUSED)
    await tg.close()


async def test_an_idle_target_is_unused_at_deregistration() -> None:
    """ALB guide, "Deregistration delay": no in-flight requests and no active connections -> completes at once."""
    tg, _, events = group(delay=300)
    tg.register("t1", "127.0.0.1", 9000)
    tg.record_health("t1", OK)
    tg.deregister("t1")
    assert tg.describe() == [] and tg.state("t1") is TargetState.UNUSED
    assert events[-2:] == [
        ("t1", TargetState.HEALTHY, TargetState.DRAINING),
        ("t1", TargetState.DRAINING, TargetState.UNUSED),
    ]
    await tg.close()


async def test_draining_ends_when_the_last_connection_and_request_end() -> None:
    tg, clock, events = group(delay=300)
    tg.register("t1", "127.0.0.1", 9000)
    tg.connection_opened("t1")
    tg.connection_opened("t1")
    tg.request_started("t1")
    tg.deregister("t1")
    tg.connection_closed("t1")
    tg.request_finished("t1")  # one connection left
    assert tg.state("t1") is TargetState.DRAINING
    tg.connection_closed("t1")
    assert tg.state("t1") is TargetState.UNUSED
    assert events[-1] == ("t1", TargetState.DRAINING, TargetState.UNUSED)
    count = len(events)
    await clock.advance(300)  # the delay's timer was cancelled: nothing more happens
    assert len(events) == count
    await tg.close()


async def test_a_request_in_flight_keeps_the_target_draining_until_it_finishes() -> None:
    tg, _, _ = group(delay=300)
    tg.register("t1", "127.0.0.1", 9000)
    tg.request_started("t1")
    tg.deregister("t1")
    assert tg.state("t1") is TargetState.DRAINING
    tg.request_finished("t1")
    assert tg.state("t1") is TargetState.UNUSED
    await tg.close()


async def test_listeners_see_draining_before_unused_when_they_close_the_last_connection() -> None:
    """The proxy closes idle kept-alive connections when a target starts draining, inside the notification."""
    tg, _, events = group(delay=300)
    tg.register("t1", "127.0.0.1", 9000)
    tg.connection_opened("t1")

    def close_idle(target_id: str, old: TargetState, new: TargetState) -> None:
        if new is TargetState.DRAINING:
            tg.connection_closed(target_id)

    tg.subscribe(close_idle)
    seen: list[TargetState] = []
    tg.subscribe(lambda _id, _old, new: seen.append(new))
    tg.deregister("t1")
    assert seen == [TargetState.DRAINING, TargetState.UNUSED]
    assert [new for _, _, new in events][-2:] == [TargetState.DRAINING, TargetState.UNUSED]
    assert tg.state("t1") is TargetState.UNUSED
    await tg.close()


async def test_registering_a_draining_target_again_starts_it_afresh() -> None:
    tg, clock, _ = group(delay=30)
    tg.register("t1", "127.0.0.1", 9000)
    tg.connection_opened("t1")
    tg.deregister("t1")
    tg.register("t1", "127.0.0.1", 9000)
    await clock.advance(60)
    assert only(tg)[0] is TargetState.INITIAL
    await tg.close()


def test_connection_and_request_counts() -> None:
    tg, _, _ = group()
    tg.register("t1", "127.0.0.1", 9000)
    tg.connection_opened("t1")
    tg.connection_opened("t1")
    tg.request_started("t1")
    tg.connection_closed("t1")
    (description,) = tg.describe()
    assert (description.open_connections, description.in_flight_requests) == (1, 1)
    tg.connection_closed("unknown")  # a target already gone is ignored


def test_a_failing_listener_does_not_stop_the_others() -> None:
    tg, _, events = group()

    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    tg.subscribe(broken)
    tg.register("t1", "127.0.0.1", 9000)
    assert events == [("t1", TargetState.UNUSED, TargetState.INITIAL)]

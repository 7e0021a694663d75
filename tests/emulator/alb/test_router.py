"""Routing decisions without sockets: round robin, least outstanding requests, AWSALB stickiness, fail open."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest

from emulator.alb.router import CORS_COOKIE, STICKY_COOKIE, Router, cookie_value, routable
from emulator.alb.target_group import TargetHealthDescription, TargetState

NOW = 1_800_000_000.0


def target(
    target_id: str, state: TargetState = TargetState.HEALTHY, in_flight: int = 0
) -> TargetHealthDescription:
    return TargetHealthDescription(target_id, "127.0.0.1", 8000, state, None, "", 0, in_flight)


def sticky_router(duration: int = 86400) -> Router:
    return Router(stickiness_enabled=True, stickiness_duration_seconds=duration, secret=b"k" * 32)


def cookie_header(router: Router, target_id: str) -> str:
    return f"other=1; {STICKY_COOKIE}={router.token(target_id)}"


def test_round_robin_cycles_over_healthy_targets_in_registration_order() -> None:
    router = Router()
    targets = [target("a"), target("b", TargetState.UNHEALTHY), target("c")]
    picks = [router.choose(targets, None, NOW) for _ in range(4)]
    assert [d.target.target_id for d in picks if d] == ["a", "c", "a", "c"]
    assert all(d is not None and d.set_cookies == () for d in picks)


def test_least_outstanding_requests_picks_the_least_busy_target() -> None:
    router = Router(algorithm="least_outstanding_requests")
    targets = [target("a", in_flight=3), target("b", in_flight=1), target("c", in_flight=2)]
    decision = router.choose(targets, None, NOW)
    assert decision is not None and decision.target.target_id == "b"


def test_a_valid_cookie_wins_over_round_robin() -> None:
    router = sticky_router()
    targets = [target("a"), target("b")]
    header = cookie_header(router, "b")
    picks = {d.target.target_id for _ in range(10) if (d := router.choose(targets, header, NOW))}
    assert picks == {"b"}


def test_the_cookie_is_set_on_every_response_with_expires_now_plus_duration() -> None:
    router = sticky_router(duration=3600)
    targets = [target("a")]
    for now in (NOW, NOW + 500):
        decision = router.choose(targets, cookie_header(router, "a"), now)
        assert decision is not None
        sticky, cors = decision.set_cookies
        assert sticky.startswith(f"{STICKY_COOKIE}={router.token('a')};")
        assert cors.startswith(f"{CORS_COOKIE}={router.token('a')};")
        assert "SameSite=None" in cors and "Secure" in cors
        assert "Max-Age" not in sticky
        expires = parsedate_to_datetime(sticky.split("Expires=")[1].split(";")[0]).timestamp()
        assert expires == now + 3600


def test_the_cookie_value_does_not_show_the_target_id() -> None:
    router = sticky_router()
    assert "task-1" not in router.token("task-1")
    assert router.token("task-1") != Router(stickiness_enabled=True).token("task-1")


def test_re_pick_when_the_sticky_target_cannot_take_requests() -> None:
    for lost_state in (TargetState.UNHEALTHY, TargetState.DRAINING, TargetState.INITIAL):
        router = sticky_router()
        targets = [target("a", lost_state), target("b")]
        decision = router.choose(targets, cookie_header(router, "a"), NOW)
        assert decision is not None and decision.target.target_id == "b", lost_state
        assert decision.set_cookies[0].startswith(f"{STICKY_COOKIE}={router.token('b')};")


def test_re_pick_when_the_cookie_names_a_gone_target_or_cannot_be_decoded() -> None:
    router = sticky_router()
    targets = [target("b")]
    for header in (cookie_header(router, "gone"), f"{STICKY_COOKIE}=garbage", f"{STICKY_COOKIE}="):
        decision = router.choose(targets, header, NOW)
        assert decision is not None and decision.target.target_id == "b"


@pytest.mark.parametrize(
    ("states", "routed"),
    [
        ("healthy unhealthy initial draining healthy", "a e"),  # healthy ones only
        ("unhealthy initial draining", ""),  # none healthy, one not checked yet: 503
        ("initial initial", ""),
        ("unhealthy draining unhealthy", "a c"),  # every registered target unhealthy: fail open
        ("unhealthy", "a"),
        ("draining", ""),  # never to draining targets
    ],
)
def test_fail_open_only_when_every_registered_target_is_unhealthy(states: str, routed: str) -> None:
    """Reference 4.8: "If all targets are unhealthy, the ALB fails open and routes to all of them"."""
    targets = [target(name, TargetState(state)) for name, state in zip("abcde", states.split(), strict=False)]
    assert [t.target_id for t in routable(targets)] == routed.split()
    if not routed:
        assert Router().choose(targets, None, NOW) is None  # the proxy answers 503


def test_still_sticky_while_failing_open() -> None:
    targets = [target("a", TargetState.UNHEALTHY), target("b", TargetState.UNHEALTHY)]
    router = sticky_router()
    picks = {
        d.target.target_id for _ in range(4) if (d := router.choose(targets, cookie_header(router, "b"), NOW))
    }
    assert picks == {"b"}


def test_no_decision_without_a_routable_target() -> None:
    router = Router()
    assert router.choose([], None, NOW) is None
    assert router.choose([target("a", TargetState.DRAINING)], None, NOW) is None


def test_stickiness_off_ignores_the_cookie_and_sets_none() -> None:
    router = Router(stickiness_enabled=False, secret=b"k" * 32)
    targets = [target("a"), target("b")]
    header = cookie_header(sticky_router(), "a")
    picks = [d for _ in range(2) if (d := router.choose(targets, header, NOW))]
    assert [d.target.target_id for d in picks] == ["a", "b"]
    assert all(d.set_cookies == () for d in picks)


def test_cookie_value_parses_a_cookie_header() -> None:
    assert cookie_value("a=1; AWSALB=xyz; b=2", "AWSALB") == "xyz"
    assert cookie_value('AWSALB="q"', "AWSALB") == "q"
    assert cookie_value("AWSALBCORS=xyz", "AWSALB") is None
    assert cookie_value(None, "AWSALB") is None

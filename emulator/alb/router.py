"""Routing decisions, with no I/O: which target takes a request, and the stickiness cookies to set.

Rules (aws-scaling-semantics.md §4.8, §5.1-5.5):
- a request goes to a healthy target; the group fails open (to all of them) only when every registered
  target that is not draining is `unhealthy` (§4.8); with none healthy and one still `initial` (its
  first check has not passed) no target takes it, and the proxy answers 503; draining targets never
  get new requests;
- with stickiness on, a valid `AWSALB` cookie wins over the algorithm; a cookie that cannot be decoded
  or names a target that is not routable (unhealthy, draining, gone) is replaced by a fresh pick;
- otherwise `round_robin` (registration order) or `least_outstanding_requests` picks;
- with stickiness on, every response carries `AWSALB` and `AWSALBCORS` with `Expires` = now + duration.

The cookie value is an HMAC of the target id under a per-load-balancer secret: opaque, not guessable,
and it stops decoding when the load balancer restarts (so the client is simply routed afresh).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Literal

from emulator.alb.target_group import TargetHealthDescription, TargetState

STICKY_COOKIE = "AWSALB"
CORS_COOKIE = "AWSALBCORS"
Algorithm = Literal["round_robin", "least_outstanding_requests"]


@dataclass(frozen=True)
class Decision:
    target: TargetHealthDescription
    set_cookies: tuple[str, ...]  # Set-Cookie header values for the response


def routable(targets: Sequence[TargetHealthDescription]) -> list[TargetHealthDescription]:
    """Targets that may take a new request: the healthy ones; when every registered, non-draining target
    is unhealthy, all of them (fail open); otherwise none."""
    registered = [
        t for t in targets if t.state in (TargetState.INITIAL, TargetState.HEALTHY, TargetState.UNHEALTHY)
    ]
    healthy = [t for t in registered if t.state is TargetState.HEALTHY]
    if healthy:
        return healthy
    if all(t.state is TargetState.UNHEALTHY for t in registered):
        return registered
    return []


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of cookie `name` in a Cookie request header, if any."""
    if not header:
        return None
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None


class Router:
    def __init__(
        self,
        *,
        algorithm: Algorithm = "round_robin",
        stickiness_enabled: bool = False,
        stickiness_duration_seconds: int = 86400,
        secret: bytes | None = None,
    ) -> None:
        self.algorithm = algorithm
        self.stickiness_enabled = stickiness_enabled
        self.duration = stickiness_duration_seconds
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._next = 0
        self._tokens: dict[str, str] = {}

    def choose(
        self, targets: Sequence[TargetHealthDescription], cookie_header: str | None, now_epoch: float
    ) -> Decision | None:
        """Pick a target for one request; None when no target can take it (the proxy answers 503)."""
        candidates = routable(targets)
        if not candidates:
            return None
        target = self._sticky_target(candidates, cookie_header) or self._pick(candidates)
        cookies = self.set_cookies(target.target_id, now_epoch) if self.stickiness_enabled else ()
        return Decision(target, cookies)

    def token(self, target_id: str) -> str:
        """The opaque AWSALB value that stands for `target_id`."""
        token = self._tokens.get(target_id)
        if token is None:
            digest = hmac.new(self._secret, target_id.encode(), hashlib.sha256).digest()[:24]
            token = base64.urlsafe_b64encode(digest).decode().rstrip("=")
            self._tokens[target_id] = token
        return token

    def set_cookies(self, target_id: str, now_epoch: float) -> tuple[str, ...]:
        value = self.token(target_id)
        expires = formatdate(now_epoch + self.duration, usegmt=True)
        return (
            f"{STICKY_COOKIE}={value}; Expires={expires}; Path=/",
            f"{CORS_COOKIE}={value}; Expires={expires}; Path=/; SameSite=None; Secure",
        )

    def _sticky_target(
        self, candidates: Sequence[TargetHealthDescription], cookie_header: str | None
    ) -> TargetHealthDescription | None:
        if not self.stickiness_enabled:
            return None
        value = cookie_value(cookie_header, STICKY_COOKIE) or cookie_value(cookie_header, CORS_COOKIE)
        if not value:
            return None
        for target in candidates:
            if hmac.compare_digest(self.token(target.target_id), value):
                return target
        return None

    def _pick(self, candidates: Sequence[TargetHealthDescription]) -> TargetHealthDescription:
        if self.algorithm == "least_outstanding_requests":
            fewest = min(t.in_flight_requests for t in candidates)
            candidates = [t for t in candidates if t.in_flight_requests == fewest]
        target = candidates[self._next % len(candidates)]
        self._next += 1
        return target

"""The target group: registered targets, their health states, draining, and connection counts.

States and reason codes are AWS's (aws-scaling-semantics.md §4.7-4.9):

    register ──> initial ──(one passing check)──> healthy
                    │                              │   ^
                    │   (UnhealthyThresholdCount   │   │ (HealthyThresholdCount
                    │    consecutive failures)     v   │  consecutive successes)
                    └────────────────────────> unhealthy
    deregister (any state) ──> draining ──(no connection and no request left,
                                           or deregistration_delay, whichever first)──> unused (removed)

- A new target: "After your target is registered, it must pass one health check to be considered healthy"
  (ALB guide, "Health checks for your target groups"); a target coming back from `unhealthy` needs
  HealthyThresholdCount consecutive successes (ELB API, HealthyThresholdCount).
- Draining: "If a deregistering target has no in-flight requests and no active connections, Elastic Load
  Balancing immediately completes the deregistration process, without waiting for the deregistration
  delay to elapse" (ALB guide, "Deregistration delay"). The group checks at deregistration and on every
  `connection_closed` / `request_finished`, so whoever waits for `unused` (ECS stopping the task) is told
  as soon as the target is idle. (The guide adds that DescribeTargetHealth still says `draining` until the
  delay ends; the emulator removes the target at once, so it says `unused` from then on.)

The health results come from `emulator.alb.health.HealthChecker`; the proxy reports open connections
and in-flight requests, and closes a target's connections when it becomes `unused`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from emulator.clock import Clock
from emulator.model import TargetGroupSettings
from emulator.tasks import TaskSet

log = logging.getLogger("emulator.alb")


class TargetState(StrEnum):
    INITIAL = "initial"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    DRAINING = "draining"
    UNUSED = "unused"


# AWS reason codes (ELB API TargetHealth.Reason).
REGISTRATION_IN_PROGRESS = "Elb.RegistrationInProgress"
INITIAL_HEALTH_CHECKING = "Elb.InitialHealthChecking"
FAILED_HEALTH_CHECKS = "Target.FailedHealthChecks"
TIMEOUT = "Target.Timeout"
RESPONSE_CODE_MISMATCH = "Target.ResponseCodeMismatch"
DEREGISTRATION_IN_PROGRESS = "Target.DeregistrationInProgress"
NOT_REGISTERED = "Target.NotRegistered"

StateListener = Callable[[str, TargetState, TargetState], None]


@dataclass(frozen=True)
class HealthCheckResult:
    """One health check's outcome; `reason` is an AWS reason code when it failed."""

    ok: bool
    reason: str | None = None
    description: str = ""


@dataclass(frozen=True)
class TargetHealthDescription:
    target_id: str
    host: str
    port: int
    state: TargetState
    reason: str | None
    description: str
    open_connections: int
    in_flight_requests: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass
class _Target:
    target_id: str
    host: str
    port: int
    state: TargetState = TargetState.INITIAL
    reason: str | None = REGISTRATION_IN_PROGRESS
    description: str = "Target registration is in progress"
    successes: int = 0
    failures: int = 0
    open_connections: int = 0
    in_flight_requests: int = 0

    def snapshot(self) -> TargetHealthDescription:
        return TargetHealthDescription(
            self.target_id,
            self.host,
            self.port,
            self.state,
            self.reason,
            self.description,
            self.open_connections,
            self.in_flight_requests,
        )


class TargetGroup:
    def __init__(self, settings: TargetGroupSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._targets: dict[str, _Target] = {}  # registration order is routing order
        self._listeners: list[StateListener] = []
        self._drains: dict[str, asyncio.Task[object]] = {}
        self._tasks = TaskSet()
        self._notifying = 0  # listeners being called: an idle draining target is removed after them
        self._idle_draining: list[str] = []

    # -- registration -------------------------------------------------------------------------
    def register(self, target_id: str, host: str, port: int) -> None:
        """RegisterTargets: a new target starts `initial`; a draining one is taken back as new."""
        current = self._targets.get(target_id)
        if current is not None and current.state is not TargetState.DRAINING:
            return
        if current is not None and (timer := self._drains.pop(target_id, None)) is not None:
            timer.cancel()
        self._targets[target_id] = _Target(target_id, host, port)
        self._notify(target_id, current.state if current else TargetState.UNUSED, TargetState.INITIAL)

    def deregister(self, target_id: str) -> None:
        """DeregisterTargets: no new requests; `unused` (and connections closed) once nothing is open to
        the target any more, or when the deregistration delay ends."""
        target = self._targets.get(target_id)
        if target is None or target.state is TargetState.DRAINING:
            return
        self._set(
            target, TargetState.DRAINING, DEREGISTRATION_IN_PROGRESS, "Target deregistration is in progress"
        )  # the proxy closes the idle kept-alive connections to it here
        if self._targets.get(target_id) is not target or self._complete_if_idle(target):
            return
        delay = self.settings.deregistration_delay_seconds
        self._drains[target_id] = self._tasks.spawn(self._drain(target_id, delay), f"alb-drain-{target_id}")

    async def _drain(self, target_id: str, delay: float) -> None:
        await self.clock.sleep(delay)
        self._drains.pop(target_id, None)
        log.info("target %s deregistered after %ss of draining", target_id, delay)
        self._complete(target_id)

    def _complete_if_idle(self, target: _Target) -> bool:
        """A draining target with no connection and no request left becomes `unused` now (after the
        listeners being called, if any: they see `draining` before `unused`)."""
        if target.state is not TargetState.DRAINING or target.open_connections or target.in_flight_requests:
            return False
        if self._notifying:
            self._idle_draining.append(target.target_id)
            return True
        if (timer := self._drains.pop(target.target_id, None)) is not None:
            timer.cancel()
        log.info("target %s deregistered: no connection left", target.target_id)
        self._complete(target.target_id)
        return True

    def _complete(self, target_id: str) -> None:
        target = self._targets.pop(target_id, None)
        if target is not None:
            self._notify(target_id, target.state, TargetState.UNUSED)

    async def close(self) -> None:
        """Stop the draining timers (used when the whole emulator stops)."""
        await self._tasks.cancel_all()
        self._drains.clear()

    # -- health -------------------------------------------------------------------------------
    def record_health(self, target_id: str, result: HealthCheckResult) -> None:
        """Apply one health check result: `initial` -> `healthy` on one success; `unhealthy` -> `healthy`
        after HealthyThresholdCount consecutive successes; -> `unhealthy` after UnhealthyThresholdCount
        consecutive failures."""
        target = self._targets.get(target_id)
        if target is None or target.state is TargetState.DRAINING:
            return
        check = self.settings.health_check
        if result.ok:
            target.successes, target.failures = target.successes + 1, 0
            needed = 1 if target.state is TargetState.INITIAL else check.healthy_threshold_count
            if target.state is not TargetState.HEALTHY and target.successes >= needed:
                self._set(target, TargetState.HEALTHY, None, "")
            return
        target.successes, target.failures = 0, target.failures + 1
        reason = result.reason or FAILED_HEALTH_CHECKS
        if target.state is TargetState.UNHEALTHY or target.failures >= check.unhealthy_threshold_count:
            self._set(target, TargetState.UNHEALTHY, reason, result.description)
        elif target.state is TargetState.INITIAL:
            self._set(target, target.state, INITIAL_HEALTH_CHECKING, "Initial health checks in progress")

    # -- what the proxy reports ---------------------------------------------------------------
    def connection_opened(self, target_id: str) -> None:
        if (target := self._targets.get(target_id)) is not None:
            target.open_connections += 1

    def connection_closed(self, target_id: str) -> None:
        if (target := self._targets.get(target_id)) is not None:
            target.open_connections = max(0, target.open_connections - 1)
            self._complete_if_idle(target)

    def request_started(self, target_id: str) -> None:
        if (target := self._targets.get(target_id)) is not None:
            target.in_flight_requests += 1

    def request_finished(self, target_id: str) -> None:
        if (target := self._targets.get(target_id)) is not None:
            target.in_flight_requests = max(0, target.in_flight_requests - 1)
            self._complete_if_idle(target)

    # -- views --------------------------------------------------------------------------------
    def describe(self, target_ids: Sequence[str] | None = None) -> list[TargetHealthDescription]:
        """DescribeTargetHealth: every registered target, or the named ones (`unused` when unknown)."""
        if target_ids is None:
            return [t.snapshot() for t in self._targets.values()]
        return [self._describe_one(target_id) for target_id in target_ids]

    def _describe_one(self, target_id: str) -> TargetHealthDescription:
        target = self._targets.get(target_id)
        if target is not None:
            return target.snapshot()
        return TargetHealthDescription(
            target_id, "", 0, TargetState.UNUSED, NOT_REGISTERED, "Target is not registered", 0, 0
        )

    def state(self, target_id: str) -> TargetState:
        target = self._targets.get(target_id)
        return target.state if target is not None else TargetState.UNUSED

    def subscribe(self, callback: StateListener) -> Callable[[], None]:
        """Call `callback(target_id, old, new)` on every state change; returns an unsubscribe function."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    # -- internals ----------------------------------------------------------------------------
    def _set(self, target: _Target, state: TargetState, reason: str | None, description: str) -> None:
        old = target.state
        target.state, target.reason, target.description = state, reason, description
        if old is not state:
            log.info("target %s: %s -> %s (%s)", target.target_id, old, state, reason or "ok")
            self._notify(target.target_id, old, state)

    def _notify(self, target_id: str, old: TargetState, new: TargetState) -> None:
        self._notifying += 1
        try:
            for listener in list(self._listeners):
                try:
                    listener(target_id, old, new)
                except Exception:
                    log.exception("target-group listener failed on %s %s -> %s", target_id, old, new)
        finally:
            self._notifying -= 1
        while not self._notifying and self._idle_draining:
            idle = self._targets.get(self._idle_draining.pop(0))
            if idle is not None:
                self._complete_if_idle(idle)

"""The control loop: one Autoscaler and one ECS service scheduler on a Clock, over the emulated account.

The same object runs live (`chat-emulator up`: real workers behind the load balancer, a wall or scaled clock) and
in `simulate` (simulated tasks, virtual time); only the clock and the fleet differ. Each tick:

1. read the service as the account holds it (`Account.read_service()`): a change made through the AWS API —
   update-service, register-scalable-target, put-scaling-policy, put-metric-alarm, a stack update — is seen here,
   on the next tick, as on AWS;
2. a user's StopTask: the scheduler stops that task in ECS's order (and the service replaces it); a user's
   SetAlarmState: run the alarm's policies once (`Autoscaler.override`);
3. on each minute boundary: CloudWatch + Application Auto Scaling (`Autoscaler.tick`), which may write a new
   desired count into the account (read back before the scheduler runs);
4. the ECS service scheduler (`emulator.ecs.ServiceScheduler.step`) over what the fleet reports: its commands go
   to the fleet (launch / terminate / kill workers, register / deregister targets), its status (counts,
   deployments, tasks, events) and the target group's health go back into the account.

`run()` ticks whenever the fleet reports a change (`wake()`), at the scheduler's next deadline, on every minute
boundary, and at least every `interval` seconds of the clock (to see API changes); a failed tick is logged and the
next one comes `interval` later. When the account cannot be read the loop goes on with the last service it read. `stop()` stops every task in
AWS's order and returns once all are STOPPED.

Nothing here keeps a copy of the desired count, min/max, policies or alarms between ticks: the account is the
one truth.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from emulator.autoscaler import PERIOD, Autoscaler, ScalingAccount
from emulator.clock import Clock
from emulator.ecs.model import (
    REASON_SHUTDOWN,
    Command,
    ServiceStatus,
    TargetReport,
    TaskReport,
    service_spec,
)
from emulator.ecs.scheduler import ServiceScheduler
from emulator.model import ServiceDescription
from emulator.tasks import wait_or_timeout
from emulator.telemetry import ConnectionSource, CpuSource

log = logging.getLogger(__name__)

MAX_STEPS_PER_TICK = 8
TargetHealthRow = tuple[str, int, str, str | None, str]  # target id, port, state, reason code, description


class Account(ScalingAccount, Protocol):
    """What the control loop reads and writes each tick: the one store of control-plane state.

    `emulator.aws.EmulatedAccount` implements it over moto (live); `emulator.sim.account.MemoryAccount` over the
    deployed description (simulate). Nothing else keeps a copy of desired count, min/max, policies or alarms.
    """

    def read_service(self) -> ServiceDescription:
        """The service as the account holds it now: desired count, PRIMARY deployment and its task definition,
        deployment configuration, scalable target, policies, alarms. Cheap when nothing changed through the
        API since the last call; reflects every API write on the next call."""
        ...

    def take_alarm_overrides(self) -> dict[str, str]:
        """{alarm name: state} set by a user's SetAlarmState since the last call (each reported once)."""
        ...

    def take_stop_requests(self) -> list[tuple[str, str]]:
        """[(task id, reason)] of a user's StopTask calls since the last call (each reported once)."""
        ...

    def publish_service_status(self, status: ServiceStatus, at: Callable[[float], datetime]) -> None:
        """Counts, deployments (rolloutState, counts), tasks and events, as DescribeServices / ListTasks /
        DescribeTasks answer them; applies `status.rollback`. `at` turns clock seconds into datetimes."""
        ...

    def publish_target_health(self, target_group_arn: str, targets: Sequence[TargetHealthRow]) -> None:
        """DescribeTargetHealth's answer: (target id, port, state, reason code, description) per target."""
        ...


class Fleet(Protocol):
    """The scheduler's hands: workers and the target group (live), or simulated tasks (simulate)."""

    def execute(self, command: Command) -> None:
        """Carry out one command at once, without blocking (a start or a stop reports back later)."""
        ...

    def reports(self) -> Mapping[str, TaskReport]:
        """What is known of every task launched and not yet forgotten."""
        ...

    def targets(self) -> Mapping[str, TargetReport]:
        """The target group's view of every target registered and not yet `unused`."""
        ...

    def target_health(self) -> Sequence[TargetHealthRow]:
        """DescribeTargetHealth rows for the account."""
        ...


@dataclass(frozen=True)
class MinuteRecord:
    """What one minute boundary saw and did (simulate's timeline)."""

    at: float
    desired: int
    running: int
    alarm_states: Mapping[str, str]


class ControlLoop:
    def __init__(
        self,
        clock: Clock,
        account: Account,
        fleet: Fleet,
        cpu_source: CpuSource,
        *,
        interval: float = 1.0,
        autoscaling: bool = True,
        first_evaluation: float | None = None,
        epoch: datetime | None = None,
        scheduler: ServiceScheduler | None = None,
        on_minute: Callable[[MinuteRecord], None] | None = None,
        connection_source: ConnectionSource | None = None,
        max_activities: int | None = 1000,
    ) -> None:
        self.clock, self.account, self.fleet = clock, account, fleet
        self.interval = interval
        self.autoscaling = autoscaling
        start = clock.now()
        self.autoscaler = Autoscaler(
            account,
            cpu_source,
            epoch=epoch or _epoch_of(start),
            connection_source=connection_source,
            max_activities=max_activities,
        )
        self.scheduler = scheduler or ServiceScheduler(cluster_name=account.read_service().cluster_name)
        self.on_minute = on_minute
        self.status: ServiceStatus | None = None
        self._next_minute = (
            first_evaluation if first_evaluation is not None else (math.floor(start / PERIOD) + 1) * PERIOD
        )
        self._last_health: tuple[TargetHealthRow, ...] | None = None
        self._cpu_baseline = False
        self._service: ServiceDescription | None = None
        self._read_failed = False
        self._wake = asyncio.Event()
        self._stopping = False

    # -- one tick ------------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        service = self._read_service()
        for task_id, reason in self.account.take_stop_requests():
            if self.scheduler.stop_task(now, task_id, reason):
                log.info("task %s stopped through StopTask: %s", task_id[:8], reason)
        self._schedule(now, service)  # the counts the policies run from are ECS's counts at this moment
        if not self.autoscaling or self._stopping:
            return
        if not self._cpu_baseline and now >= self._next_minute - PERIOD:
            self.autoscaler.cpu_source.sample()  # the first minute's datum starts here
            self._cpu_baseline = True
        decided = self._overrides(now, service)
        if now >= self._next_minute:
            at = self._next_minute
            # the next boundary first: a minute whose evaluation fails is skipped, not retried in a tight loop
            self._next_minute = max(at + PERIOD, math.floor(now / PERIOD) * PERIOD + PERIOD)
            decided = self._minute(at, decided)
        if decided.desired_count != service.desired_count:
            self._schedule(now, decided)  # a new desired count is acted on at once

    def next_wake(self, now: float) -> float:
        """The clock time of the next tick unless the fleet reports something first (never `now` itself: a
        boundary or deadline already past is acted on by the tick that follows `interval` later)."""
        candidates = [now + self.interval]
        if self.autoscaling and not self._stopping:
            candidates.append(self._next_minute)
        deadline = self.scheduler.next_deadline(now)
        if deadline is not None:
            candidates.append(deadline)
        upcoming = [t for t in candidates if t > now]
        return min(upcoming, default=now + self.interval)

    def _read_service(self) -> ServiceDescription:
        """The account's service; when it cannot be read (deleted through the API, moto gone) the last one read,
        so that the tasks keep being looked after and a shutdown still completes."""
        try:
            self._service = self.account.read_service()
        except Exception:
            if self._service is None:
                raise
            if not self._read_failed:
                log.exception("reading the service from the account failed: going on with the last one read")
            self._read_failed = True
            return self._service
        self._read_failed = False
        return self._service

    def _overrides(self, now: float, service: ServiceDescription) -> ServiceDescription:
        overrides = self.account.take_alarm_overrides()
        for alarm_name, state in overrides.items():
            log.info("alarm %s set to %s through SetAlarmState", alarm_name, state)
            self.autoscaler.override(
                now, service, alarm_name, state, self._running(), self._deployment_in_progress()
            )
        return self._read_service() if overrides else service

    def _minute(self, at: float, service: ServiceDescription) -> ServiceDescription:
        running = self._running()
        result = self.autoscaler.tick(at, service, running, self._deployment_in_progress())
        if self.on_minute is not None:
            states = {e.alarm_name: e.state for e in result.evaluations}
            self.on_minute(MinuteRecord(at, result.desired, running, states))
        return self._read_service() if result.activity is not None else service

    def _schedule(self, now: float, service: ServiceDescription) -> None:
        spec = service_spec(service)
        changed, rollback = False, None
        for _ in range(MAX_STEPS_PER_TICK):  # until the scheduler has nothing more to say at this time
            step = self.scheduler.step(now, spec, self.fleet.reports(), self.fleet.targets())
            for command in step.commands:
                try:
                    self.fleet.execute(command)
                except Exception:
                    log.exception("the fleet could not carry out %s", command)
            self.status, changed = step.status, changed or step.changed
            rollback = rollback or step.status.rollback  # asked for by one step: the account must see it
            if not step.commands:
                break
        if changed and self.status is not None:
            if rollback is not None and self.status.rollback is None:
                self.status = dataclasses.replace(self.status, rollback=rollback)
            self.account.publish_service_status(self.status, self.autoscaler.timestamp)
        health = tuple(self.fleet.target_health())
        if health != self._last_health:
            self.account.publish_target_health(spec.target_group_arn, health)
            self._last_health = health

    def _running(self) -> int:
        return self.status.running_count if self.status is not None else 0

    def _deployment_in_progress(self) -> bool:
        return self.scheduler.deployment_in_progress

    # -- live ----------------------------------------------------------------------------------------
    def wake(self) -> None:
        """Something was reported (a worker started or exited, a target changed state): tick soon."""
        self._wake.set()

    async def run(self) -> None:
        """Tick until stopped (see `stop`); a failed tick is logged, not fatal."""
        while True:
            now = self.clock.now()
            self._wake.clear()
            try:
                self.tick(now)
            except Exception:
                log.exception("control loop tick failed at clock %.1f s", now)
                if self._stopping:  # nothing can be read: the hands still stop every worker
                    return
            if self._stopping and self.scheduler.done:
                return
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await wait_or_timeout(woken, self.clock.sleep(self.next_wake(now) - now))
            finally:
                woken.cancel()

    def stop(self, *, force: bool = False) -> None:
        """Stop every task in AWS's order (deregister, drain, SIGTERM, stopTimeout, SIGKILL), or SIGKILL at
        once when `force`; `run()` returns once all are STOPPED. No scaling activity happens meanwhile."""
        self._stopping = True
        self.scheduler.stop_all(self.clock.now(), REASON_SHUTDOWN, force=force)
        self.wake()


def _epoch_of(clock_start: float) -> datetime:
    """The datetime of clock second 0, so that `clock_start` is now."""
    return datetime.now(UTC) - timedelta(seconds=clock_start)

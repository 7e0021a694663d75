"""The simulation: the live control loop (`emulator.controller.ControlLoop`: the same Autoscaler, the same ECS
service scheduler) in virtual time, over simulated tasks (`emulator.sim.fleet`) and the deployed description
(`emulator.sim.account`).

Minute m runs over [60m, 60m+60) with `demand[m]` vCPU of load shared by the serving tasks; its CPUUtilization is
what they used (`emulator.telemetry.task_utilization`, no datapoint when none runs). At its end (60m+60) the alarms
are evaluated and the policies run from ECS's runningCount; the scheduler starts tasks (RUNNING
`task_start_seconds` later, healthy one health check after that) or drains extra ones (gone at once when they
hold no connection, else after the deregistration delay). The loop ticks only when something can happen — a
minute boundary, a task start, a health check, a drain's end, a scheduler deadline — which is what makes a day
of load take well under a second. The service has been deployed (and is steady) before the load starts: the
scheduler runs for `WARMUP_SECONDS` first, without load and without autoscaling.

A row's `running` is ECS's runningCount at the start of its minute; `desired` is the count after its evaluation.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from emulator.clock import Clock
from emulator.controller import ControlLoop, MinuteRecord
from emulator.ecs.scheduler import ServiceScheduler
from emulator.model import MetricAlarm, ServiceDescription
from emulator.scaling.alarms import breaches
from emulator.scaling.engine import ScalingActivity
from emulator.scaling.policies import ControlPlan
from emulator.scaling.target_tracking import is_high_alarm
from emulator.sim.account import MemoryAccount
from emulator.sim.fleet import SimulatedFleet

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # what clock second 0 shows as (timelines are deterministic)
WARMUP_SECONDS = 600.0


@dataclass(frozen=True)
class TimelineRow:
    minute: int
    demand_vcpu: float
    cpu_percent: float | None
    desired: int
    running: int
    alarm_high: str
    alarm_low: str
    activity: ScalingActivity | None


@dataclass(frozen=True)
class Summary:
    minutes: int
    task_hours: float
    minutes_above_high_threshold: int
    scaling_activities: int
    peak_tasks: int


@dataclass(frozen=True)
class Simulation:
    rows: tuple[TimelineRow, ...]
    high_alarm: MetricAlarm | None
    low_alarm: MetricAlarm | None

    @property
    def activities(self) -> list[ScalingActivity]:
        return [row.activity for row in self.rows if row.activity is not None]

    def summary(self) -> Summary:
        above = 0
        if self.high_alarm is not None:
            alarm = self.high_alarm
            above = sum(
                1
                for r in self.rows
                if r.cpu_percent is not None
                and breaches(r.cpu_percent, alarm.comparison_operator, alarm.threshold)
            )
        return Summary(
            minutes=len(self.rows),
            task_hours=sum(r.running for r in self.rows) / 60,
            minutes_above_high_threshold=above,
            scaling_activities=len(self.activities),
            peak_tasks=max((r.running for r in self.rows), default=0),
        )


def watched_alarms(plan: ControlPlan) -> tuple[MetricAlarm | None, MetricAlarm | None]:
    """The first scale-out (greater-than) and scale-in (less-than) alarm that runs a policy."""
    acting = [a for a in plan.alarms if plan.bindings.get(a.alarm_name)]
    high = next((a for a in acting if is_high_alarm(a)), None)
    low = next((a for a in acting if not is_high_alarm(a)), None)
    return high, low


class SteppedClock:
    """The simulation's clock: time is wherever the driver puts it (nothing sleeps on it)."""

    def __init__(self, start: float) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        raise RuntimeError("nothing sleeps in a simulation: the driver moves the clock")


def demand_function(demand: Sequence[float]) -> Callable[[float], float]:
    """vCPU of load at clock time t: `demand[m]` over minute m, none before the first or after the last."""

    def at(t: float) -> float:
        minute = int(t // 60)
        return demand[minute] if 0 <= minute < len(demand) else 0.0

    return at


def simulated_loop(
    service: ServiceDescription,
    demand: Sequence[float],
    clock: Clock,
    *,
    task_start_seconds: float = 60,
    interval: float = 60.0,
) -> tuple[ControlLoop, MemoryAccount, SimulatedFleet, list[MinuteRecord]]:
    """The control loop over simulated tasks and an in-memory account (shared by `simulate` and its tests)."""
    account = MemoryAccount(service)
    group = service.target_group
    fleet = SimulatedFleet(
        task_start_seconds=task_start_seconds,
        deregistration_delay_seconds=group.deregistration_delay_seconds,
        health_check_interval_seconds=group.health_check.interval_seconds,
        task_vcpu=service.task_definition.vcpu,
        clock=clock,
        demand_at=demand_function(demand),
    )
    minutes: list[MinuteRecord] = []
    loop = ControlLoop(
        clock,
        account,
        fleet,
        fleet,
        interval=interval,
        first_evaluation=60.0,
        epoch=EPOCH,
        scheduler=ServiceScheduler(cluster_name=service.cluster_name, new_task_id=_task_ids()),
        on_minute=minutes.append,
    )
    return loop, account, fleet, minutes


def simulate(
    service: ServiceDescription, demand: Sequence[float], task_start_seconds: float = 60
) -> Simulation:
    """Run `demand` (vCPU per minute) through the control loop; one timeline row per minute."""
    clock = SteppedClock(-WARMUP_SECONDS)
    loop, account, fleet, minutes = simulated_loop(
        service, demand, clock, task_start_seconds=task_start_seconds
    )
    running_at_start: list[int] = []

    def at_minute_start(now: float) -> None:
        if now >= 0 and now % 60 == 0 and len(running_at_start) <= now // 60:
            running_at_start.append(loop.status.running_count if loop.status else 0)

    drive(loop, fleet, clock, len(demand) * 60.0, after_tick=at_minute_start)
    return timeline(loop, account, minutes, running_at_start, demand)


def drive(
    loop: ControlLoop,
    fleet: SimulatedFleet,
    clock: SteppedClock,
    end: float,
    *,
    after_tick: Callable[[float], None] | None = None,
) -> None:
    """Tick `loop` at every clock time something can happen — its next wake, a minute boundary (the load changes),
    the fleet's next event — from the clock's time up to and including `end`."""
    while True:
        now = clock.time
        loop.tick(now)
        if after_tick is not None:
            after_tick(now)
        if now >= end:
            return
        upcoming = [loop.next_wake(now), (now // 60 + 1) * 60.0, end]
        if (event := fleet.next_event(now)) is not None:
            upcoming.append(event)
        clock.time = min(upcoming)


def timeline(
    loop: ControlLoop,
    account: MemoryAccount,
    minutes: Sequence[MinuteRecord],
    running_at_start: Sequence[int],
    demand: Sequence[float],
) -> Simulation:
    """One row per minute of load from what the loop recorded."""
    high, low = watched_alarms(loop.autoscaler.plan)
    rows = []
    for m, load in enumerate(demand):
        record = minutes[m]
        activity = next((a for a in loop.autoscaler.activities if a.time == record.at), None)
        rows.append(
            TimelineRow(
                minute=m,
                demand_vcpu=load,
                cpu_percent=account.cpu.get(loop.autoscaler.timestamp(record.at - 60)),
                desired=record.desired,
                running=running_at_start[m],
                alarm_high=record.alarm_states.get(high.alarm_name, "") if high else "",
                alarm_low=record.alarm_states.get(low.alarm_name, "") if low else "",
                activity=activity,
            )
        )
    return Simulation(tuple(rows), high, low)


def _task_ids() -> Callable[[], str]:
    """Deterministic task ids, so that two runs of one load give the same timeline."""
    counter = itertools.count(1)
    return lambda: f"task-{next(counter)}"

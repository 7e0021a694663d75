"""The simulation: the live control loop (`emulator.controller.ControlLoop`: the same Autoscaler, the same ECS
service scheduler) in virtual time, over simulated tasks (`emulator.sim.fleet`) and the deployed description
(`emulator.sim.account`).

Minute m runs over [60m, 60m+60) with minute m of the load on the serving tasks (`emulator.sim.fleet`: a vCPU load
shared evenly, a load in users by the connections each task holds); its CPUUtilization is what they used over what
they reserved (`emulator.telemetry.service_utilization`; no datapoint when none ran). At its end (60m+60) the alarms
are evaluated and the policies run from ECS's runningCount; the scheduler starts tasks (RUNNING
`task_start_seconds` later, healthy one health check after that) or drains extra ones (gone at once when they
hold no connection, else after the deregistration delay). The loop ticks only when something can happen — a
minute boundary, a task start, a health check, a drain's end, a scheduler deadline — which is what makes a day
of load take well under a second. The service has been deployed (and is steady) before the load starts: the
scheduler runs for `WARMUP_SECONDS` first, without load and without autoscaling.

A row's `running` is ECS's runningCount at the start of its minute; `desired` is the count after its evaluation.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emulator.autoscaler import cpu_metric_key
from emulator.clock import Clock
from emulator.controller import ControlLoop, MinuteRecord
from emulator.ecs.scheduler import ServiceScheduler
from emulator.model import MetricAlarm, ServiceDescription
from emulator.scaling.alarms import breaches
from emulator.scaling.engine import ScalingActivity
from emulator.scaling.policies import ControlPlan
from emulator.scaling.target_tracking import is_high_alarm
from emulator.sim.account import MemoryAccount
from emulator.sim.cost import Bill, PriceTable, bill_of
from emulator.sim.costmodel import CostModel
from emulator.sim.fleet import RECONNECT_WINDOW_SECONDS, MinuteUsage, SimulatedFleet
from emulator.sim.load import Load, as_load
from emulator.telemetry import connections_metric_key

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
    connections: float | None = None  # a load in users: the connections asked for, and their messages/s
    messages_per_s: float | None = None
    connections_per_task: float | None = (
        None  # the ActiveConnections datum (Average), when the workers publish it
    )
    over_capacity_seconds: float = 0.0
    moved_connections: float = 0.0
    cost_usd: float | None = None  # the run's cost so far (end of the minute)


@dataclass(frozen=True)
class Summary:
    minutes: int
    task_hours: float
    minutes_above_high_threshold: int
    scaling_activities: int
    peak_tasks: int
    minutes_over_capacity: int = 0  # some users' task could not keep up (CPU, memory) or none served them
    paid_vcpu_hours: float = 0.0
    idle_vcpu_hours: float = 0.0  # paid and unused
    connections_moved: float = 0.0  # by scale-in and replacements: each one a reconnect
    largest_reconnect_wave_per_s: float = 0.0  # connections per second at the ALB
    bill: Bill | None = None

    @property
    def scaling_activities_per_hour(self) -> float:
        return self.scaling_activities / (self.minutes / 60) if self.minutes else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in dataclasses.asdict(self).items() if k != "bill"}
        data["scaling_activities_per_hour"] = round(self.scaling_activities_per_hour, 3)
        if self.bill is not None:
            data["cost_usd"] = {
                "fargate": round(self.bill.fargate, 4),
                "alb_hours": round(self.bill.alb_hours, 4),
                "alb_lcu": round(self.bill.alb_lcu, 4),
                "elasticache": round(self.bill.elasticache, 4),
                "total": round(self.bill.total, 4),
                "lcu_hours": round(self.bill.lcu_hours, 4),
            }
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in data.items()}


@dataclass(frozen=True)
class Simulation:
    rows: tuple[TimelineRow, ...]
    high_alarm: MetricAlarm | None
    low_alarm: MetricAlarm | None
    usages: tuple[MinuteUsage, ...] = ()
    moved_at: Mapping[float, float] = dataclasses.field(default_factory=dict)
    bill: Bill | None = None

    @property
    def activities(self) -> list[ScalingActivity]:
        return [row.activity for row in self.rows if row.activity is not None]

    def summary(self) -> Summary:
        above = 0
        if self.high_alarm is not None and self.high_alarm.metric_name == "CPUUtilization":
            alarm = self.high_alarm
            above = sum(
                1
                for r in self.rows
                if r.cpu_percent is not None
                and breaches(r.cpu_percent, alarm.comparison_operator, alarm.threshold)
            )
        paid = sum(u.paid_vcpu_seconds for u in self.usages) / 3600
        used = sum(u.used_vcpu_seconds for u in self.usages) / 3600
        end = len(self.rows) * 60.0
        waves = [moved for at, moved in self.moved_at.items() if 0 <= at < end]
        return Summary(
            minutes=len(self.rows),
            task_hours=sum(r.running for r in self.rows) / 60,
            minutes_above_high_threshold=above,
            scaling_activities=len(self.activities),
            peak_tasks=max((r.running for r in self.rows), default=0),
            minutes_over_capacity=sum(1 for u in self.usages if u.over_capacity_seconds > 0),
            paid_vcpu_hours=paid,
            idle_vcpu_hours=max(0.0, paid - used),
            connections_moved=float(sum(waves)),
            largest_reconnect_wave_per_s=max(waves, default=0.0) / RECONNECT_WINDOW_SECONDS,
            bill=self.bill,
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


@dataclass(frozen=True)
class Options:
    """How the simulated world behaves beyond the templates."""

    task_start_seconds: float = 60  # from a desired-count rise until the task is RUNNING
    session_seconds: float = 1800  # a load in users: how long a session lasts on average
    model: CostModel | None = None  # a load in users needs one
    prices: PriceTable | None = None  # none: no dollars
    node_type: str | None = "cache.t3.micro"  # the ElastiCache node of the resources stack (None: not billed)


def simulated_loop(
    service: ServiceDescription,
    load: Load | Sequence[float],
    clock: Clock,
    *,
    options: Options = Options(),
    interval: float = 60.0,
) -> tuple[ControlLoop, MemoryAccount, SimulatedFleet, list[MinuteRecord]]:
    """The control loop over simulated tasks and an in-memory account (shared by `simulate` and its tests)."""
    account = MemoryAccount(service)
    group = service.target_group
    fleet = SimulatedFleet(
        task_start_seconds=options.task_start_seconds,
        deregistration_delay_seconds=group.deregistration_delay_seconds,
        health_check_interval_seconds=group.health_check.interval_seconds,
        task_vcpu=service.task_definition.vcpu,
        task_memory_mib=service.task_definition.memory_mib,
        clock=clock,
        load=as_load(load),
        model=options.model,
        session_seconds=options.session_seconds,
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
        connection_source=fleet,
        max_activities=None,  # a week of minutes may hold thousands: the summary counts them all
    )
    return loop, account, fleet, minutes


def simulate(
    service: ServiceDescription, load: Load | Sequence[float], *, options: Options = Options()
) -> Simulation:
    """Run `load` through the control loop; one timeline row per minute."""
    load = as_load(load)
    clock = SteppedClock(-WARMUP_SECONDS)
    loop, account, fleet, minutes = simulated_loop(service, load, clock, options=options)
    running_at_start: list[int] = []

    def at_minute_start(now: float) -> None:
        if now >= 0 and now % 60 == 0 and len(running_at_start) <= now // 60:
            running_at_start.append(loop.status.running_count if loop.status else 0)

    drive(loop, fleet, clock, load.minutes * 60.0, after_tick=at_minute_start)
    return timeline(loop, account, fleet, minutes, running_at_start, options)


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
    fleet: SimulatedFleet,
    minutes: Sequence[MinuteRecord],
    running_at_start: Sequence[int],
    options: Options,
) -> Simulation:
    """One row per minute of load from what the loop recorded, and what it cost."""
    service = account.service
    high, low = watched_alarms(loop.autoscaler.plan)
    load = fleet.load
    usages = tuple(fleet.usage(m) for m in range(load.minutes))
    bill = None
    if options.prices is not None:
        task = service.task_definition
        bill = bill_of(
            options.prices,
            fleet.bills(),
            usages,
            task_vcpu=task.vcpu,
            task_memory_mib=task.memory_mib,
            node_type=options.node_type,
        )
    cpu_key, connections_key = cpu_metric_key(service), connections_metric_key(service.task_definition)
    activities = {a.time: a for a in reversed(loop.autoscaler.activities)}  # the first of a minute, as before
    rows = []
    for m in range(load.minutes):
        record = minutes[m]
        activity = activities.get(record.at)
        minute_start = loop.autoscaler.timestamp(record.at - 60)
        rows.append(
            TimelineRow(
                minute=m,
                demand_vcpu=fleet.demand_vcpu(m * 60.0),
                cpu_percent=account.average(cpu_key, minute_start),
                desired=record.desired,
                running=running_at_start[m],
                alarm_high=record.alarm_states.get(high.alarm_name, "") if high else "",
                alarm_low=record.alarm_states.get(low.alarm_name, "") if low else "",
                activity=activity,
                connections=load.connections[m] if load.in_users else None,
                messages_per_s=load.messages_per_s[m] if load.in_users else None,
                connections_per_task=account.average(connections_key, minute_start),
                over_capacity_seconds=usages[m].over_capacity_seconds,
                moved_connections=usages[m].moved_connections,
                cost_usd=bill.by_minute[m] if bill is not None else None,
            )
        )
    return Simulation(tuple(rows), high, low, usages, dict(fleet.moved_at), bill)


def _task_ids() -> Callable[[], str]:
    """Deterministic task ids, so that two runs of one load give the same timeline."""
    counter = itertools.count(1)
    return lambda: f"task-{next(counter)}"

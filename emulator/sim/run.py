"""The simulation: the control plane's own code on virtual minutes, with simulated tasks.

Minute m runs over [60m, 60m+60). Its CPUUtilization uses the tasks RUNNING at its start:
`min(100, 100 x demand / (running x task vCPU))`, no datapoint when none runs. At its end (60m+60) the
alarms are evaluated, the policies run from the running count, and the scheduler starts tasks (RUNNING
`task_start_seconds` later) or drains extra ones (gone after the deregistration delay).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emulator.model import MetricAlarm, ServiceDescription
from emulator.scaling.alarms import breaches
from emulator.scaling.engine import ScalingActivity, ScalingState, Situation, evaluate
from emulator.scaling.metrics import MetricStore, StatisticSet, metric_key
from emulator.scaling.policies import ControlPlan
from emulator.scaling.reconcile import reconcile
from emulator.scaling.target_tracking import is_high_alarm
from emulator.sim.fleet import SimulatedFleet


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


def cpu_utilization(demand_vcpu: float, running: int, task_vcpu: float) -> float | None:
    if running == 0:
        return None  # ECS publishes no datapoint without RUNNING tasks
    return min(100.0, 100.0 * demand_vcpu / (running * task_vcpu))


def watched_alarms(plan: ControlPlan) -> tuple[MetricAlarm | None, MetricAlarm | None]:
    """The first scale-out (greater-than) and scale-in (less-than) alarm that runs a policy."""
    acting = [a for a in plan.alarms if plan.bindings.get(a.alarm_name)]
    high = next((a for a in acting if is_high_alarm(a)), None)
    low = next((a for a in acting if not is_high_alarm(a)), None)
    return high, low


def simulate(
    service: ServiceDescription, demand: Sequence[float], task_start_seconds: float = 60
) -> Simulation:
    plan = ControlPlan.of(service)
    high, low = watched_alarms(plan)
    key = metric_key(
        "AWS/ECS",
        "CPUUtilization",
        (("ClusterName", service.cluster_name), ("ServiceName", service.service_name)),
    )
    store, state = MetricStore(), ScalingState()
    fleet = SimulatedFleet(task_start_seconds, service.target_group.deregistration_delay_seconds)
    fleet.launch(service.desired_count, 0, start_seconds=0)  # the service is steady when the load starts
    desired, rows = service.desired_count, []
    for minute, load in enumerate(demand):
        start, end = minute * 60, minute * 60 + 60
        fleet.advance(start)
        running = fleet.running_count(start)
        cpu = cpu_utilization(load, running, service.task_definition.vcpu)
        if cpu is not None:
            store.put(key, start, StatisticSet(running, cpu * running, cpu, cpu))
        fleet.advance(end)
        situation = Situation(end, desired, fleet.running_count(end))
        result = evaluate(plan, service.scalable_target, state, store, situation)
        state, desired = result.state, result.desired
        fleet.apply(reconcile(desired, fleet.views(end), service.deployment_configuration), end)
        rows.append(
            TimelineRow(
                minute,
                load,
                cpu,
                desired,
                running,
                state.alarm_state(high.alarm_name) if high else "",
                state.alarm_state(low.alarm_name) if low else "",
                result.activity,
            )
        )
    return Simulation(tuple(rows), high, low)

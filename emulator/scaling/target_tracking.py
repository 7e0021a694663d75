"""Target tracking on ECSServiceAverageCPUUtilization, or on a customized metric (reference 3).

AAS manages two alarms per policy: AlarmHigh (> target, 3 of 3 minutes) and AlarmLow (< 0.9 x target,
15 of 15 minutes; not created when DisableScaleIn is set [inf]), on the policy's metric: `AWS/ECS
CPUUtilization` of the service for the predefined type, else the CustomizedMetricSpecification's namespace,
name, dimensions and statistic (e.g. the chat's own `ActiveConnections` per task, `emulator.telemetry`).

The capacity step. AWS ("How target tracking scaling for Application Auto Scaling works", reference
3.6) documents the intent, not a formula: above the target it adds "capacity proportional to the metric
value as fast as it can"; below it, it is "more conservative": it removes capacity only past a threshold
"usually more than 10% lower" than the target, and does not scale in when removing capacity would push
the metric above the target. The emulator's rule [inf]:

    tasks  = the tasks that produced the newest evaluated datapoint (its SampleCount: ECS sends one
             sample per RUNNING task, reference 4.1; the running count when it is unknown)
    needed = ceil(tasks x metric / target)                  # the capacity that brings the metric to the target
    scale-out (AlarmHigh):  needed, when needed > running
    scale-in  (AlarmLow):   max(needed, running - max(1, floor(running x 10 %))), when below running

- Proportional from the capacity the metric describes: a datapoint measured on 2 tasks says nothing about
  the 2 tasks that started since, so 2 tasks at 100 % ask for 4 again (already desired: nothing) until a
  datapoint of the 4 comes in. Scale-outs whose tasks have not reported yet never compound, whatever
  the cooldown; `needed` is an absolute capacity, so inside a scale-out cooldown the engine applies
  `max(desired, needed)` (the capacity the previous activity added counts toward it, reference 2.8).
- Scale-in removes at most 10 % of the running tasks (at least one) per activity: AlarmLow fires below
  0.9 x target, and removing 10 % raises the metric by at most 1 / 0.9, so one activity cannot push it
  above the target; `needed` bounds it too (it alone keeps the metric at or under the target when the
  one task is more than 10 %). With a 50 % target, 10 tasks at 5 % go 10 -> 9 -> ... -> 2,
  one activity per scale-in cooldown, not 10 -> 2 at once.
- Rounding up keeps capacity on both sides ("rounding up or down ... prevents it from adding insufficient
  capacity or removing too much capacity").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from emulator.model import (
    ComparisonOperator,
    CustomizedMetric,
    MetricAlarm,
    ServiceDescription,
    TargetTrackingPolicy,
)

SCALE_IN_RATIO = 0.9
SCALE_IN_STEP_FRACTION = 0.1  # the most one scale-in activity removes (see the module docstring)
HIGH_DATAPOINTS = 3
LOW_DATAPOINTS = 15


def managed_alarms(policy: TargetTrackingPolicy, service: ServiceDescription) -> tuple[MetricAlarm, ...]:
    """The alarms AAS creates for `policy`; their action is the policy ARN."""
    high = _managed_alarm(
        policy, service, "AlarmHigh", policy.target_value, HIGH_DATAPOINTS, "GreaterThanThreshold"
    )
    if policy.disable_scale_in:
        return (high,)
    low_threshold = round(policy.target_value * SCALE_IN_RATIO, 6)
    low = _managed_alarm(policy, service, "AlarmLow", low_threshold, LOW_DATAPOINTS, "LessThanThreshold")
    return (high, low)


def tracked_metric(policy: TargetTrackingPolicy, service: ServiceDescription) -> CustomizedMetric:
    """The metric `policy` holds at its target (a predefined type is the service's average CPUUtilization)."""
    if policy.customized_metric is not None:
        return policy.customized_metric
    dimensions = (("ClusterName", service.cluster_name), ("ServiceName", service.service_name))
    return CustomizedMetric("AWS/ECS", "CPUUtilization", dimensions, "Average", "Percent")


def _managed_alarm(
    policy: TargetTrackingPolicy,
    service: ServiceDescription,
    kind: str,
    threshold: float,
    datapoints: int,
    operator: ComparisonOperator,
) -> MetricAlarm:
    metric = tracked_metric(policy, service)
    return MetricAlarm(
        alarm_name=f"TargetTracking-{service.resource_id}-{kind}-{policy.policy_name}",
        namespace=metric.namespace,
        metric_name=metric.metric_name,
        statistic=metric.statistic,
        period=60,
        evaluation_periods=datapoints,
        datapoints_to_alarm=datapoints,
        threshold=threshold,
        comparison_operator=operator,
        dimensions=metric.dimensions,
        alarm_actions=(policy.policy_arn,),
    )


def is_high_alarm(alarm: MetricAlarm) -> bool:
    return alarm.comparison_operator in ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold")


def tracking_capacity(
    policy: TargetTrackingPolicy,
    alarm: MetricAlarm,
    evaluated_values: Sequence[float],
    running: int,
    measured_tasks: float | None = None,
) -> int | None:
    """The capacity `policy` asks for when `alarm` is in ALARM; None when it asks for nothing.

    `measured_tasks`: how many tasks the newest datapoint was measured on (None: `running`)."""
    if not evaluated_values or policy.target_value <= 0:
        return None
    metric = evaluated_values[-1]
    if running == 0:
        return 1 if is_high_alarm(alarm) else None  # scale from zero by the minimum amount (reference 3.7)
    tasks = measured_tasks if measured_tasks is not None and measured_tasks > 0 else running
    needed = math.ceil(tasks * metric / policy.target_value - 1e-9)
    if is_high_alarm(alarm):
        return needed if needed > running else None
    if policy.disable_scale_in:
        return None
    wanted = max(needed, running - max_scale_in_step(running))
    return wanted if wanted < running else None


def max_scale_in_step(running: int) -> int:
    """The most tasks one scale-in activity removes: 10 % of the running tasks, at least one."""
    return max(1, math.floor(running * SCALE_IN_STEP_FRACTION))


def measured_tasks(sample_counts: Sequence[float], period: int) -> float | None:
    """The tasks behind the newest datapoint: its SampleCount over the minutes of the period."""
    if not sample_counts:
        return None
    return sample_counts[-1] / max(1, period // 60)

"""Target tracking on ECSServiceAverageCPUUtilization (reference 3).

AAS manages two alarms per policy: AlarmHigh (> target, 3 of 3 minutes) and AlarmLow (< 0.9 x target,
15 of 15 minutes; not created when DisableScaleIn is set [inf]). The new capacity is
`ceil(running x metric / target)` (reference 3.6 [inf]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from emulator.model import ComparisonOperator, MetricAlarm, ServiceDescription, TargetTrackingPolicy

SCALE_IN_RATIO = 0.9
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


def _managed_alarm(
    policy: TargetTrackingPolicy,
    service: ServiceDescription,
    kind: str,
    threshold: float,
    datapoints: int,
    operator: ComparisonOperator,
) -> MetricAlarm:
    return MetricAlarm(
        alarm_name=f"TargetTracking-{service.resource_id}-{kind}-{policy.policy_name}",
        namespace="AWS/ECS",
        metric_name="CPUUtilization",
        statistic="Average",
        period=60,
        evaluation_periods=datapoints,
        datapoints_to_alarm=datapoints,
        threshold=threshold,
        comparison_operator=operator,
        dimensions=(("ClusterName", service.cluster_name), ("ServiceName", service.service_name)),
        alarm_actions=(policy.policy_arn,),
    )


def is_high_alarm(alarm: MetricAlarm) -> bool:
    return alarm.comparison_operator in ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold")


def tracking_capacity(
    policy: TargetTrackingPolicy, alarm: MetricAlarm, evaluated_values: Sequence[float], running: int
) -> int | None:
    """The capacity `policy` asks for when `alarm` is in ALARM; None when it asks for nothing."""
    if not evaluated_values or policy.target_value <= 0:
        return None
    metric = evaluated_values[-1]
    if running == 0:
        return 1 if is_high_alarm(alarm) else None  # scale from zero by the minimum amount (reference 3.7)
    wanted = math.ceil(running * metric / policy.target_value - 1e-9)
    if is_high_alarm(alarm):
        return wanted if wanted > running else None
    if policy.disable_scale_in:
        return None
    return wanted if wanted < running else None

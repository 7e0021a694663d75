"""Target tracking: the managed alarms and the capacity formula."""

from __future__ import annotations

from dataclasses import replace

from emulator.model import ServiceDescription, TargetTrackingPolicy
from emulator.scaling.target_tracking import managed_alarms, tracking_capacity

POLICY = TargetTrackingPolicy("cpu-target", "arn:tt", target_value=70)


def test_managed_alarms_use_aws_thresholds_and_datapoints(seed_service: ServiceDescription) -> None:
    high, low = managed_alarms(POLICY, seed_service)
    assert (high.comparison_operator, high.threshold, high.evaluation_periods, high.datapoints_to_alarm) == (
        "GreaterThanThreshold",
        70,
        3,
        3,
    )
    assert (low.comparison_operator, low.threshold, low.evaluation_periods, low.datapoints_to_alarm) == (
        "LessThanThreshold",
        63,
        15,
        15,
    )
    assert high.alarm_name.startswith("TargetTracking-service/c/s-AlarmHigh-")
    assert high.alarm_actions == low.alarm_actions == ("arn:tt",)
    assert high.dimensions == (("ClusterName", "c"), ("ServiceName", "s"))
    assert [a.threshold for a in managed_alarms(replace(POLICY, target_value=30), seed_service)] == [30, 27]


def test_disable_scale_in_creates_no_low_alarm(seed_service: ServiceDescription) -> None:
    alarms = managed_alarms(replace(POLICY, disable_scale_in=True), seed_service)
    assert [a.comparison_operator for a in alarms] == ["GreaterThanThreshold"]


def test_capacity_is_proportional_and_rounds_to_keep_capacity(seed_service: ServiceDescription) -> None:
    high, low = managed_alarms(POLICY, seed_service)
    assert tracking_capacity(POLICY, high, [71], 2) == 3  # 2.03 -> 3
    assert tracking_capacity(POLICY, high, [140], 4) == 8
    assert tracking_capacity(POLICY, low, [35], 4) == 2
    assert tracking_capacity(POLICY, low, [60], 4) is None  # ceil(3.43) = 4: nothing to remove
    assert tracking_capacity(replace(POLICY, disable_scale_in=True), low, [10], 4) is None
    assert tracking_capacity(POLICY, high, [], 4) is None


def test_deployed_managed_alarms_keep_their_names_but_get_aws_thresholds(
    seed_service: ServiceDescription,
) -> None:
    """moto creates the managed alarms with threshold 6 (reference 6c): evaluate AWS's values under its names."""
    from emulator.scaling.policies import ControlPlan

    action = "arn:tt:createdBy/1234"
    wrong = [
        replace(
            seed_service.alarms[0],
            alarm_name=f"TargetTracking-x-Alarm{kind}-uuid",
            threshold=6.0,
            comparison_operator=op,
            alarm_actions=(action,),
        )
        for kind, op in (("High", "GreaterThanThreshold"), ("Low", "LessThanThreshold"))
    ]
    service = replace(seed_service, step_policies=(), alarms=tuple(wrong), target_tracking_policies=(POLICY,))
    plan = ControlPlan.of(service)
    assert [(a.alarm_name, a.threshold, a.evaluation_periods) for a in plan.alarms] == [
        ("TargetTracking-x-AlarmHigh-uuid", 70, 3),
        ("TargetTracking-x-AlarmLow-uuid", 63, 15),
    ]
    assert plan.bindings["TargetTracking-x-AlarmHigh-uuid"] == (POLICY,)

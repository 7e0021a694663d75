"""Target tracking: the managed alarms and the capacity formula."""

from __future__ import annotations

from dataclasses import replace

import pytest

from emulator.model import ComparisonOperator, ServiceDescription, TargetTrackingPolicy
from emulator.scaling.target_tracking import managed_alarms, measured_tasks, tracking_capacity

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


@pytest.mark.parametrize(
    ("alarm", "metric", "running", "measured", "expected"),
    [
        ("high", 71, 2, None, 3),  # ceil(2 x 71 / 70) = ceil(2.03): rounding up keeps capacity
        ("high", 140, 4, None, 8),
        ("high", 100, 4, 4, 6),  # ceil(4 x 100 / 70) = ceil(5.7)
        ("high", 100, 4, 2, None),  # measured on 2 tasks: 3 needed, the 4 running already cover it
        ("high", 100, 6, 4, None),  # 6 needed, 6 running: nothing to add
        ("high", 100, 0, None, 1),  # from zero by the minimum amount (reference 3.7)
        ("low", 35, 4, None, 3),  # ceil(4 x 35 / 70) = 2, but one task per activity
        ("low", 5, 10, None, 9),
        ("low", 5, 20, None, 18),  # at most 10 % of the running tasks
        ("low", 5, 25, None, 23),  # floor(2.5)
        ("low", 62, 10, None, 9),  # ceil(8.9) = 9
        ("low", 63.5, 10, None, None),  # ceil(9.07) = 10: removing one would go above the target
        ("low", 60, 4, None, None),  # ceil(3.43) = 4: nothing to remove
    ],
)
def test_capacity_is_proportional_out_and_gradual_in(
    seed_service: ServiceDescription,
    alarm: str,
    metric: float,
    running: int,
    measured: float | None,
    expected: int | None,
) -> None:
    high, low = managed_alarms(POLICY, seed_service)
    chosen = high if alarm == "high" else low
    assert tracking_capacity(POLICY, chosen, [metric], running, measured) == expected


def test_scale_in_never_pushes_the_metric_above_the_target(seed_service: ServiceDescription) -> None:
    """AAS-TT: no scale-in when removing capacity would push the metric above the target."""
    _, low = managed_alarms(POLICY, seed_service)
    for running in range(1, 60):
        for metric in (0.5, 10, 30, 50, 62.9):  # AlarmLow fires below 63
            wanted = tracking_capacity(POLICY, low, [metric], running)
            if wanted is not None:
                assert 1 <= wanted < running
                assert running * metric / wanted <= POLICY.target_value, (running, metric, wanted)
                assert running - wanted == max(1, running // 10) or running * metric / (wanted - 1) > 70


def test_no_capacity_without_data_or_with_scale_in_disabled(seed_service: ServiceDescription) -> None:
    high, low = managed_alarms(POLICY, seed_service)
    assert tracking_capacity(replace(POLICY, disable_scale_in=True), low, [10], 4) is None
    assert tracking_capacity(POLICY, high, [], 4) is None


def test_measured_tasks_is_the_sample_count_per_minute() -> None:
    assert measured_tasks([3, 4], 60) == 4
    assert measured_tasks([20], 300) == 4  # five one-minute data of 4 tasks
    assert measured_tasks([], 60) is None


def test_deployed_managed_alarms_keep_their_names_but_get_aws_thresholds(
    seed_service: ServiceDescription,
) -> None:
    """moto creates the managed alarms with threshold 6 (reference 6c): evaluate AWS's values under its names."""
    from emulator.scaling.policies import ControlPlan

    action = "arn:tt:createdBy/1234"
    operators: tuple[tuple[str, ComparisonOperator], ...] = (
        ("High", "GreaterThanThreshold"),
        ("Low", "LessThanThreshold"),
    )
    wrong = [
        replace(
            seed_service.alarms[0],
            alarm_name=f"TargetTracking-x-Alarm{kind}-uuid",
            threshold=6.0,
            comparison_operator=op,
            alarm_actions=(action,),
        )
        for kind, op in operators
    ]
    service = replace(seed_service, step_policies=(), alarms=tuple(wrong), target_tracking_policies=(POLICY,))
    plan = ControlPlan.of(service)
    assert [(a.alarm_name, a.threshold, a.evaluation_periods) for a in plan.alarms] == [
        ("TargetTracking-x-AlarmHigh-uuid", 70, 3),
        ("TargetTracking-x-AlarmLow-uuid", 63, 15),
    ]
    assert plan.bindings["TargetTracking-x-AlarmHigh-uuid"] == (POLICY,)

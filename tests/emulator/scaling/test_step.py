"""Step scaling arithmetic: interval membership, rounding, the documented worked example."""

from __future__ import annotations

import pytest

from emulator.model import MetricAggregationType, StepAdjustment, StepScalingPolicy
from emulator.scaling.step import (
    adjusted_capacity,
    breach_delta,
    in_interval,
    matching_step,
    round_percent_change,
    step_policy_capacity,
)

OUT = (StepAdjustment(0, 0, 10), StepAdjustment(10, 10, 20), StepAdjustment(30, 20, None))
IN = (StepAdjustment(0, -10, 0), StepAdjustment(-10, -20, -10), StepAdjustment(-30, None, -20))


def percent_policy(steps: tuple[StepAdjustment, ...]) -> StepScalingPolicy:
    return StepScalingPolicy("p", "arn:p", "PercentChangeInCapacity", steps)


@pytest.mark.parametrize(
    ("metric", "current", "steps", "expected"),
    [(60, 10, OUT, 11), (70, 11, OUT, 14), (40, 14, IN, 13), (30, 13, IN, 10)],
)
def test_documented_worked_example(
    metric: float, current: int, steps: tuple[StepAdjustment, ...], expected: int
) -> None:
    """Reference 2.5: 10 tasks, threshold 50: 60 -> 11, 70 -> 14, 40 -> 13, 30 -> 10."""
    # at 60: +10 % of 10 = 1; at 70: +30 % of 11 = 3.3 -> 3; at 40: -10 % of 14 = -1.4 -> -1; at 30: -30 % of 13 = -3.9 -> -3
    assert step_policy_capacity(percent_policy(steps), [metric], 50, current) == expected


@pytest.mark.parametrize(
    ("lower", "upper", "delta", "inside"),
    [
        (0, 10, 0, True),  # at or above the threshold: lower bound inclusive
        (0, 10, 10, False),  # ... upper bound exclusive
        (-10, 0, 0, False),  # delta 0 counts as "at or above": (-10, 0] does not hold it
        (-10, 0, -10, False),  # below the threshold: lower bound exclusive
        (-10, 0, -0.5, True),
        (-20, -10, -10, True),  # ... upper bound inclusive
        (None, 0, -1e9, True),  # null lower bound = -infinity
        (25, None, 1e9, True),  # null upper bound = +infinity
    ],
)
def test_interval_membership(lower: float | None, upper: float | None, delta: float, inside: bool) -> None:
    assert in_interval(StepAdjustment(1, lower, upper), delta) is inside


def test_threshold_50_bounds_as_metric_ranges() -> None:
    """Reference 2.2: [0,10) is metric in [50,60); (-10,0] is metric in (40,50]."""
    up, down = StepAdjustment(1, 0, 10), StepAdjustment(-1, -10, 0)
    assert [in_interval(up, m - 50) for m in (49.9, 50, 59.9, 60)] == [False, True, True, False]
    assert [in_interval(down, m - 50) for m in (40, 40.1, 49.9)] == [False, True, True]


@pytest.mark.parametrize(
    ("change", "rounded"),
    [(12.7, 12), (1.0, 1), (0.3, 1), (-0.3, -1), (-1.0, -1), (-6.67, -6), (0.0, 0)],
)
def test_percent_rounding(change: float, rounded: int) -> None:
    assert round_percent_change(change) == rounded


def test_min_adjustment_magnitude() -> None:
    """+25 % of 4 = 1, but with MinAdjustmentMagnitude 2 the result is +2."""
    assert adjusted_capacity(4, 25, "PercentChangeInCapacity") == 5
    assert adjusted_capacity(4, 25, "PercentChangeInCapacity", min_adjustment_magnitude=2) == 6
    assert adjusted_capacity(4, -25, "PercentChangeInCapacity", min_adjustment_magnitude=2) == 2
    assert adjusted_capacity(4, 2, "ChangeInCapacity", min_adjustment_magnitude=5) == 6  # percent only


def test_adjustment_types() -> None:
    assert adjusted_capacity(3, 5, "ChangeInCapacity") == 8
    assert adjusted_capacity(3, 5, "ExactCapacity") == 5
    assert adjusted_capacity(3, -5, "ExactCapacity") == 0
    assert adjusted_capacity(10, 200, "PercentChangeInCapacity") == 30


def test_aggregation_types_pick_the_breach_delta() -> None:
    values = [72.0, 90.0, 81.0]
    assert breach_delta(values, "Average", 70) == pytest.approx(11.0)
    assert breach_delta(values, "Minimum", 70) == 2.0
    assert breach_delta(values, "Maximum", 70) == 20.0
    seed_up = (StepAdjustment(1, 0, 15), StepAdjustment(2, 15, 25), StepAdjustment(3, 25, None))
    cases: tuple[tuple[MetricAggregationType, int], ...] = (("Minimum", 3), ("Average", 3), ("Maximum", 4))
    for aggregation, expected in cases:
        policy = StepScalingPolicy(
            "p", "arn", "ChangeInCapacity", seed_up, metric_aggregation_type=aggregation
        )
        assert step_policy_capacity(policy, values, 70, 2) == expected


def test_no_matching_step_or_no_data_scales_nothing() -> None:
    policy = StepScalingPolicy("p", "arn", "ChangeInCapacity", (StepAdjustment(2, 10, None),))
    assert matching_step(policy.step_adjustments, 5) is None
    assert step_policy_capacity(policy, [75], 70, 4) is None
    assert step_policy_capacity(policy, [], 70, 4) is None
    assert step_policy_capacity(policy, [85], 70, 4) == 6

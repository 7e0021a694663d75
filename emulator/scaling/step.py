"""Step scaling arithmetic for Application Auto Scaling (reference 2.1-2.5).

The breach delta is the alarm's evaluated datapoints aggregated with MetricAggregationType, minus the
threshold; the step whose interval holds it gives the adjustment; the adjustment type turns it into a
capacity from the current (running) capacity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from emulator.model import AdjustmentType, MetricAggregationType, StepAdjustment, StepScalingPolicy


def aggregate(values: Sequence[float], aggregation: MetricAggregationType) -> float:
    if not values:
        raise ValueError("no datapoints to aggregate")
    if aggregation == "Minimum":
        return min(values)
    if aggregation == "Maximum":
        return max(values)
    return sum(values) / len(values)


def breach_delta(values: Sequence[float], aggregation: MetricAggregationType, threshold: float) -> float:
    return aggregate(values, aggregation) - threshold


def in_interval(step: StepAdjustment, delta: float) -> bool:
    """At or above the threshold `L <= delta < U`; below it `L < delta <= U` (reference 2.2)."""
    lower = -math.inf if step.metric_interval_lower_bound is None else step.metric_interval_lower_bound
    upper = math.inf if step.metric_interval_upper_bound is None else step.metric_interval_upper_bound
    if delta >= 0:
        return lower <= delta < upper
    return lower < delta <= upper


def matching_step(steps: Sequence[StepAdjustment], delta: float) -> StepAdjustment | None:
    """The step holding `delta`, or None: then nothing is scaled (reference 2.3 [inf])."""
    return next((step for step in steps if in_interval(step, delta)), None)


def round_percent_change(change: float) -> int:
    """PercentChangeInCapacity rounding (reference 2.4): away from zero below 1, toward zero above."""
    if change == 0:
        return 0
    if 0 < change < 1:
        return 1
    if -1 < change < 0:
        return -1
    return math.floor(change) if change > 0 else math.ceil(change)


def adjusted_capacity(
    current: int,
    adjustment: int,
    adjustment_type: AdjustmentType,
    min_adjustment_magnitude: int | None = None,
) -> int:
    """The capacity one step asks for, before clamping to [MinCapacity, MaxCapacity]."""
    if adjustment_type == "ExactCapacity":
        return max(0, adjustment)
    if adjustment_type == "ChangeInCapacity":
        return current + adjustment
    change = round_percent_change(current * adjustment / 100)
    if min_adjustment_magnitude is not None and change != 0 and abs(change) < min_adjustment_magnitude:
        change = int(math.copysign(min_adjustment_magnitude, change))
    return current + change


def step_policy_capacity(
    policy: StepScalingPolicy, evaluated_values: Sequence[float], threshold: float, current: int
) -> int | None:
    """The capacity `policy` asks for from `current`, or None when no step matches or no data exists."""
    if not evaluated_values:
        return None
    step = matching_step(
        policy.step_adjustments, breach_delta(evaluated_values, policy.metric_aggregation_type, threshold)
    )
    if step is None:
        return None
    return adjusted_capacity(
        current, step.scaling_adjustment, policy.adjustment_type, policy.min_adjustment_magnitude
    )

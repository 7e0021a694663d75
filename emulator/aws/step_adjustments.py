"""AWS's validation of step scaling adjustments (PutScalingPolicy), which moto skips.

Rules (reference §2.3, `StepScalingPolicyConfiguration`): at least one step; a null lower bound is
-infinity and a null upper bound +infinity; no step has both null; each upper bound is above its lower
bound; at most one null lower and one null upper bound; a negative lower bound requires a null lower bound
somewhere and a positive upper bound a null upper bound; sorted, the ranges neither overlap nor leave gaps.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from emulator.aws.exceptions import StepAdjustmentError
from emulator.model import StepAdjustment


def validate_step_adjustments(policy_name: str, steps: Sequence[StepAdjustment]) -> None:
    """Raise `StepAdjustmentError` naming `policy_name` when AWS would reject these steps."""
    problem = _first_problem(steps)
    if problem:
        raise StepAdjustmentError(
            f"Invalid step adjustments for step scaling policy {policy_name}: {problem}"
        )


def _first_problem(steps: Sequence[StepAdjustment]) -> str | None:
    if not steps:
        return "at least one step adjustment is required"
    return _null_bound_problem(steps) or _range_problem(steps)


def _null_bound_problem(steps: Sequence[StepAdjustment]) -> str | None:
    lowers = [s.metric_interval_lower_bound for s in steps]
    uppers = [s.metric_interval_upper_bound for s in steps]
    if any(lo is None and up is None for lo, up in zip(lowers, uppers, strict=True)):
        return "a step adjustment cannot have both bounds null"
    if lowers.count(None) > 1:
        return "at most one step adjustment may have a null lower bound"
    if uppers.count(None) > 1:
        return "at most one step adjustment may have a null upper bound"
    if any(lo is not None and lo < 0 for lo in lowers) and None not in lowers:
        return "a negative lower bound requires a step adjustment with a null lower bound"
    if any(up is not None and up > 0 for up in uppers) and None not in uppers:
        return "a positive upper bound requires a step adjustment with a null upper bound"
    return None


def _range_problem(steps: Sequence[StepAdjustment]) -> str | None:
    ranges = sorted((_lower(s), _upper(s)) for s in steps)
    for lower, upper in ranges:
        if upper <= lower:
            return f"upper bound {_fmt(upper)} must be greater than lower bound {_fmt(lower)}"
    for (lo_a, up_a), (lo_b, up_b) in itertools.pairwise(ranges):
        if lo_b < up_a:
            return f"step adjustments overlap: [{_fmt(lo_a)}, {_fmt(up_a)}) and [{_fmt(lo_b)}, {_fmt(up_b)})"
        if lo_b > up_a:
            return f"gap between step adjustments: nothing covers [{_fmt(up_a)}, {_fmt(lo_b)})"
    return None


def _lower(step: StepAdjustment) -> float:
    bound = step.metric_interval_lower_bound
    return -math.inf if bound is None else bound


def _upper(step: StepAdjustment) -> float:
    bound = step.metric_interval_upper_bound
    return math.inf if bound is None else bound


def _fmt(bound: float) -> str:
    if math.isinf(bound):
        return "-inf" if bound < 0 else "inf"
    return f"{bound:g}"


def step_adjustments_from_api(raw: Sequence[dict[str, object]]) -> tuple[StepAdjustment, ...]:
    """`StepAdjustments` as CloudFormation or the API spells them -> model values."""
    return tuple(
        StepAdjustment(
            scaling_adjustment=int(str(item["ScalingAdjustment"])),
            metric_interval_lower_bound=_optional_float(item.get("MetricIntervalLowerBound")),
            metric_interval_upper_bound=_optional_float(item.get("MetricIntervalUpperBound")),
        )
        for item in raw
    )


def _optional_float(value: object) -> float | None:
    return None if value is None else float(str(value))

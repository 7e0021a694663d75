"""AWS's step adjustment rules (reference §2.3), which moto does not apply."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.aws.exceptions import StepAdjustmentError
from emulator.aws.step_adjustments import step_adjustments_from_api, validate_step_adjustments
from emulator.model import StepAdjustment as Step


def test_the_seeds_scale_up_and_scale_down_steps_are_valid() -> None:
    """+1 [0,15), +2 [15,25), +3 [25,inf) and -1 (-inf,0] pass."""
    validate_step_adjustments("up", (Step(1, 0, 15), Step(2, 15, 25), Step(3, 25, None)))
    validate_step_adjustments("down", (Step(-1, None, 0),))


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ((), "at least one step"),
        ((Step(1, None, None),), "both bounds null"),
        ((Step(1, 0, 15), Step(2, 10, None)), "overlap: [0, 15) and [10, inf)"),
        ((Step(1, 0, 10), Step(2, 20, None)), "gap between step adjustments: nothing covers [10, 20)"),
        ((Step(1, 0, None), Step(2, 10, None)), "at most one step adjustment may have a null upper bound"),
        ((Step(-1, None, 0), Step(-2, None, -10)), "at most one step adjustment may have a null lower bound"),
        ((Step(1, 0, 10),), "a positive upper bound requires"),
        ((Step(-1, -10, 0),), "a negative lower bound requires"),
        ((Step(1, None, 5), Step(1, 10, 5), Step(1, 5, None)), "must be greater than lower bound"),
    ],
)
def test_invalid_steps_are_rejected_with_the_policy_name(steps: tuple[Step, ...], expected: str) -> None:
    """Each AWS rule has its own message, and every message names the policy."""
    with pytest.raises(StepAdjustmentError) as caught:
        validate_step_adjustments("chat-scale-up", steps)

    assert "chat-scale-up" in str(caught.value)
    assert expected in str(caught.value)


@given(
    cuts=st.lists(st.integers(min_value=-100, max_value=100), min_size=1, max_size=6, unique=True),
    open_low=st.booleans(),
)
def test_any_partition_of_the_line_into_adjacent_steps_is_valid(cuts: list[int], open_low: bool) -> None:
    """Adjacent ranges that end at +inf (starting at -inf, or at 0 or above) always pass."""
    points = sorted(float(c) for c in cuts)
    if not open_low:
        points = [p - points[0] for p in points]  # without a -inf step no lower bound may be negative
    lowers: list[float | None] = [None, *points] if open_low else list(points)
    uppers: list[float | None] = [*(points if open_low else points[1:]), None]

    validate_step_adjustments("p", [Step(1, lo, up) for lo, up in zip(lowers, uppers, strict=True)])


def test_api_shape_is_read_as_floats_and_ints() -> None:
    """CloudFormation passes strings; the model gets numbers and None for absent bounds."""
    expected = (Step(2, 15.0, 25.0), Step(-1, None, 0.0))

    actual = step_adjustments_from_api(
        [
            {"ScalingAdjustment": "2", "MetricIntervalLowerBound": "15", "MetricIntervalUpperBound": 25},
            {"ScalingAdjustment": -1, "MetricIntervalUpperBound": "0"},
        ]
    )

    assert expected == actual

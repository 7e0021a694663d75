"""ECS's rounding of MaximumPercent / MinimumHealthyPercent (the scheduler's plan is tested in tests/emulator/ecs)."""

from __future__ import annotations

import pytest

from emulator.scaling.reconcile import maximum_tasks, minimum_healthy_tasks


@pytest.mark.parametrize(
    ("desired", "percent", "limit"), [(4, 200, 8), (3, 125, 3), (2, 200, 4), (5, 150, 7)]
)
def test_maximum_percent_rounds_down(desired: int, percent: int, limit: int) -> None:
    assert maximum_tasks(desired, percent) == limit


@pytest.mark.parametrize(
    ("desired", "percent", "floor"), [(4, 50, 2), (2, 75, 2), (3, 75, 3), (4, 75, 3), (3, 0, 0)]
)
def test_minimum_healthy_percent_rounds_up(desired: int, percent: int, floor: int) -> None:
    assert minimum_healthy_tasks(desired, percent) == floor

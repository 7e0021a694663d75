"""ECS's rounding of MaximumPercent / MinimumHealthyPercent, and simulate's task-count decision: start,
drain-then-stop."""

from __future__ import annotations

import pytest

from emulator.model import DeploymentConfiguration
from emulator.scaling.reconcile import (
    TaskView,
    deployment_in_progress,
    maximum_tasks,
    minimum_healthy_tasks,
    reconcile,
)


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


def running(n: int, *, current: bool = True, prefix: str = "t") -> list[TaskView]:
    return [TaskView(f"{prefix}{i}", "RUNNING", current=current, started_at=i) for i in range(n)]


def test_scale_out_starts_the_missing_tasks_and_draining_ones_do_not_count() -> None:
    tasks = [*running(2), TaskView("d", "DRAINING")]
    assert reconcile(5, tasks, DeploymentConfiguration()).start == 3


def test_scale_in_stops_pending_then_unhealthy_then_newest() -> None:
    tasks = [
        *running(3),
        TaskView("sick", "RUNNING", healthy=False, started_at=0.5),
        TaskView("p", "PENDING", healthy=False, started_at=9),
    ]
    assert reconcile(3, tasks, DeploymentConfiguration()).stop == ("p", "sick")
    assert reconcile(1, tasks, DeploymentConfiguration()).stop == ("p", "sick", "t2", "t1")
    assert reconcile(5, tasks, DeploymentConfiguration()) == reconcile(5, tasks, DeploymentConfiguration())
    assert reconcile(5, tasks, DeploymentConfiguration()).start == 0


def test_rolling_deployment_with_the_seed_percentages() -> None:
    """Desired 2, 200 % / 75 %: start 2 new (4 in all), stop no old task until the new ones are healthy."""
    config = DeploymentConfiguration(maximum_percent=200, minimum_healthy_percent=75)
    old = running(2, current=False, prefix="old")
    assert deployment_in_progress(old)
    first = reconcile(2, old, config)
    assert (first.start, first.stop) == (2, ())
    new_pending = [TaskView(f"new{i}", "PENDING", healthy=False) for i in range(2)]
    assert reconcile(2, [*old, *new_pending], config) == first.__class__(0, ())
    new_healthy = [TaskView(f"new{i}", "RUNNING") for i in range(2)]
    done = reconcile(2, [*old, *new_healthy], config)
    assert (done.start, sorted(done.stop)) == (0, ["old0", "old1"])


def test_rolling_deployment_at_125_percent_stops_before_it_starts() -> None:
    """125 % of 3 = 3: no extra task; 50 % of 3 -> 2 healthy must stay, so one old task goes first."""
    config = DeploymentConfiguration(maximum_percent=125, minimum_healthy_percent=50)
    old = running(3, current=False, prefix="old")
    first = reconcile(3, old, config)
    assert first.start == 0 and len(first.stop) == 1
    after = [*old[:2], TaskView(first.stop[0], "DRAINING", current=False)]
    assert reconcile(3, [t for t in after if t.status != "DRAINING"], config).start == 1

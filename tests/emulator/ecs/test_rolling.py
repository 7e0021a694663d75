"""The rolling plan: the circuit breaker threshold, the scale-in order, old tasks stopped only while
the healthy floor holds, new ones launched only within the ceiling."""

from __future__ import annotations

import pytest

from emulator.ecs.rolling import (
    Candidate,
    circuit_breaker_threshold,
    plan,
)


@pytest.mark.parametrize(
    ("desired", "threshold"), [(1, 3), (4, 3), (6, 3), (7, 4), (10, 5), (400, 200), (1000, 200)]
)
def test_circuit_breaker_threshold_is_half_the_desired_count_between_3_and_200(
    desired: int, threshold: int
) -> None:
    assert circuit_breaker_threshold(desired) == threshold


def task(
    task_id: str, *, primary: bool = True, running: bool = True, healthy: bool = True, at: float = 0.0
) -> Candidate:
    return Candidate(task_id, primary, running, healthy and running, at)


def old(n: int) -> list[Candidate]:
    return [task(f"old{i}", primary=False, at=i) for i in range(n)]


def test_scale_out_launches_the_missing_tasks_and_stopping_ones_do_not_count_toward_desired() -> None:
    assert plan(5, [task("a"), task("b")], 1, maximum_percent=200, minimum_healthy_percent=100).launch == 3


def test_scale_in_stops_pending_then_unhealthy_then_newest() -> None:
    tasks = [task(f"t{i}", at=i) for i in range(3)]
    tasks += [task("sick", healthy=False, at=0.5), task("p", running=False, at=9)]
    assert plan(3, tasks, 0, maximum_percent=200, minimum_healthy_percent=100).stop == ("p", "sick")
    assert plan(1, tasks, 0, maximum_percent=200, minimum_healthy_percent=100).stop == (
        "p",
        "sick",
        "t2",
        "t1",
    )


def test_rolling_with_200_and_75_percent_starts_two_and_stops_no_old_task_until_the_new_ones_are_healthy() -> (
    None
):
    """Desired 2: at most 4 tasks, at least 2 healthy (75 % of 2 rounds up to 2)."""
    first = plan(2, old(2), 0, maximum_percent=200, minimum_healthy_percent=75)
    assert (first.launch, first.stop) == (2, ())
    pending = [task(f"new{i}", running=False) for i in range(2)]
    assert plan(
        2, [*old(2), *pending], 0, maximum_percent=200, minimum_healthy_percent=75
    ) == first.__class__(0, ())
    done = plan(2, [*old(2), task("new0"), task("new1")], 0, maximum_percent=200, minimum_healthy_percent=75)
    assert (done.launch, sorted(done.stop)) == (0, ["old0", "old1"])


def test_rolling_at_125_percent_stops_an_old_task_before_it_starts_a_new_one() -> None:
    """125 % of 3 = 3: no extra task; 50 % of 3 -> 2 healthy must stay, so one old task goes first."""
    first = plan(3, old(3), 0, maximum_percent=125, minimum_healthy_percent=50)
    assert first.launch == 0 and len(first.stop) == 1
    draining = plan(
        3,
        [t for t in old(3) if t.task_id not in first.stop],
        1,
        maximum_percent=125,
        minimum_healthy_percent=50,
    )
    assert draining == first.__class__(0, ())  # the draining task still holds its place
    gone = plan(
        3,
        [t for t in old(3) if t.task_id not in first.stop],
        0,
        maximum_percent=125,
        minimum_healthy_percent=50,
    )
    assert gone.launch == 1


def test_old_tasks_that_serve_nobody_are_stopped_at_once() -> None:
    tasks = [
        task("old-pending", primary=False, running=False),
        task("old-sick", primary=False, healthy=False),
    ]
    assert set(plan(2, tasks, 0, maximum_percent=200, minimum_healthy_percent=100).stop) == {
        "old-pending",
        "old-sick",
    }


def test_a_failed_deployment_launches_and_stops_nothing() -> None:
    assert plan(
        2, old(2), 0, maximum_percent=200, minimum_healthy_percent=0, launch_allowed=False, stop_old=False
    ) == (plan(0, [], 0, maximum_percent=200, minimum_healthy_percent=0))

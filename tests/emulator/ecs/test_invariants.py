"""What holds for any service shape and any task timing (Hypothesis): the rolling limits, the revision of every
new task, COMPLETED once the tasks are healthy, the circuit breaker and its rollback, the stop order."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from emulator.ecs.model import (
    Command,
    Deregister,
    Forget,
    Kill,
    Launch,
    Register,
    ServiceStatus,
    TargetReport,
    Terminate,
)
from emulator.ecs.rolling import maximum_tasks, minimum_healthy_tasks
from emulator.ecs.scheduler import Step

from .fleet import BAD, GOOD, NEW, Behaviour, FakeFleet, drive, scheduler, spec

ORDER = (Launch, Register, Deregister, Terminate, Kill, Forget)

behaviours = st.builds(
    Behaviour,
    start_seconds=st.integers(0, 4),
    healthy_seconds=st.integers(0, 4),
    exit_seconds=st.integers(0, 3),
    ignores_sigterm=st.booleans(),
    drain_seconds=st.integers(0, 8),
)
shapes = st.tuples(
    st.integers(1, 6), st.sampled_from([100, 125, 150, 200]), st.sampled_from([0, 50, 75, 100])
)


def completed(step: Step) -> bool:
    return len(step.status.deployments) == 1 and step.status.deployments[0].rollout_state == "COMPLETED"


def healthy(status: ServiceStatus, targets: Mapping[str, TargetReport]) -> int:
    return sum(
        1
        for t in status.tasks
        if t.last_status == "RUNNING"
        and t.desired_status == "RUNNING"
        and t.task_id in targets
        and targets[t.task_id].state == "healthy"
    )


def check_stop_order(log: list[tuple[float, Command]], behaviour: Behaviour, stop_timeout: float) -> None:
    """Per task: Launch, Register, Deregister, Terminate, Kill, Forget, each at most once and in this order;
    SIGTERM only once the target is gone; SIGKILL only after stopTimeout (at once for a task never RUNNING)."""
    by_task: dict[str, list[tuple[float, Command]]] = {}
    for at, command in log:
        by_task.setdefault(command.task_id, []).append((at, command))
    for commands in by_task.values():
        kinds = [ORDER.index(type(c)) for _, c in commands]
        assert kinds == sorted(set(kinds)), commands
        when = {type(c): at for at, c in commands}
        if Deregister in when and Terminate in when:
            assert when[Terminate] >= when[Deregister] + behaviour.drain_seconds
        if Terminate in when and Kill in when:
            assert when[Kill] >= when[Terminate] + stop_timeout
        if Register not in when and Kill in when:
            assert Terminate not in when  # never RUNNING: killed at once


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes, behaviour=behaviours, grace=st.sampled_from([0, 10]))
def test_a_rolling_deployment_keeps_the_limits_runs_the_new_revision_and_completes(
    shape: tuple[int, int, int], behaviour: Behaviour, grace: int
) -> None:
    desired, maximum, minimum = shape
    floor, ceiling = minimum_healthy_tasks(desired, minimum), max(desired, maximum_tasks(desired, maximum))
    assume(ceiling > desired or floor < desired)  # else ECS cannot roll either
    fleet = FakeFleet({GOOD.task_definition_arn: behaviour, NEW.task_definition_arn: behaviour})
    sched = scheduler()
    shape_of = {
        "maximum_percent": maximum,
        "minimum_healthy_percent": minimum,
        "health_check_grace_period_seconds": grace,
    }
    first = drive(sched, fleet, spec(desired, **shape_of), until=60, stop_when=completed)
    assert completed(first[-1])  # a fresh service's first deployment rolls the same way
    previous = [first[-1].status]
    t0 = fleet.now + 1

    def check(now: float, step: Step, targets: Mapping[str, TargetReport]) -> None:
        before, after = healthy(previous[0], targets), healthy(step.status, targets)
        if before >= floor:
            assert after >= floor, (now, before, after)
        assert sum(1 for t in step.status.tasks if t.last_status != "STOPPED") <= ceiling
        assert all(c.revision == NEW for c in step.commands if isinstance(c, Launch))
        previous[0] = step.status

    new = spec(desired, "ecs-svc/2", NEW, **shape_of)
    steps = drive(sched, fleet, new, until=t0 + 600, start=t0, check=check, stop_when=completed)
    final = steps[-1].status
    assert completed(steps[-1]) and final.deployments[0].deployment_id == "ecs-svc/2"
    live = [t for t in final.tasks if t.last_status != "STOPPED"]
    assert len(live) == desired and {t.task_definition_arn for t in live} == {NEW.task_definition_arn}
    assert not sched.deployment_in_progress
    check_stop_order(fleet.log, behaviour, NEW.stop_timeout_seconds)


failing = st.sampled_from(
    [
        Behaviour(healthy=False),
        Behaviour(start_error="CannotPullContainerError: pull access denied"),
        Behaviour(crash_after=0.0),
        Behaviour(start_seconds=3, crash_after=1.0, healthy_seconds=2),
    ]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes, bad=failing, rollback=st.booleans())
def test_a_revision_that_never_gets_healthy_trips_the_circuit_breaker_and_rolls_back_when_enabled(
    shape: tuple[int, int, int], bad: Behaviour, rollback: bool
) -> None:
    desired, maximum, minimum = shape
    assume(
        max(desired, maximum_tasks(desired, maximum)) > desired
        or minimum_healthy_tasks(desired, minimum) < desired
    )
    fleet = FakeFleet({BAD.task_definition_arn: bad})
    sched = scheduler()
    shape_of = {
        "maximum_percent": maximum,
        "minimum_healthy_percent": minimum,
        "circuit_breaker_enable": True,
        "circuit_breaker_rollback": rollback,
    }
    drive(sched, fleet, spec(desired, **shape_of), until=60, stop_when=completed)
    steps = drive(
        sched, fleet, spec(desired, "ecs-svc/2", BAD, **shape_of), until=fleet.now + 400, start=fleet.now + 1
    )
    failed = next((s for s in steps if s.status.deployments[0].rollout_state == "FAILED"), None)
    assert failed is not None
    rollbacks = [s.status.rollback for s in steps if s.status.rollback is not None]
    if not rollback:
        assert rollbacks == []
        assert steps[-1].status.deployments[0].rollout_state == "FAILED" and not sched.deployment_in_progress
        after = steps[steps.index(failed) + 1 :]
        assert not any(isinstance(c, Launch) for s in after for c in s.commands)
        return
    assert len(rollbacks) == 1
    assert (rollbacks[0].failed_deployment_id, rollbacks[0].task_definition_arn) == (
        "ecs-svc/2",
        GOOD.task_definition_arn,
    )
    back = drive(
        sched, fleet, spec(desired, "ecs-svc/3", GOOD, **shape_of), until=fleet.now + 600, stop_when=completed
    )
    assert completed(back[-1]) and back[-1].status.deployments[0].deployment_id == "ecs-svc/3"
    live = [t for t in back[-1].status.tasks if t.last_status != "STOPPED"]
    assert len(live) == desired and {t.task_definition_arn for t in live} == {GOOD.task_definition_arn}

"""The ECS service scheduler as a user of the emulator's AWS API sees it: tasks, their stop order and reasons,
deployments and their rollout, the circuit breaker, service events."""

from __future__ import annotations

from emulator.ecs.model import (
    Deregister,
    Forget,
    Kill,
    Launch,
    Register,
    ServiceStatus,
    TargetReport,
    TaskReport,
    TaskState,
    Terminate,
)
from emulator.ecs.scheduler import ServiceScheduler, Step

from .fleet import BAD, GOOD, NEW, TG, Behaviour, FakeFleet, drive, run, scheduler, spec


def task(status: ServiceStatus, task_id: str) -> TaskState:
    return next(t for t in status.tasks if t.task_id == task_id)


def names(commands: object) -> list[str]:
    return [f"{type(c).__name__} {c.task_id}" for c in commands]  # type: ignore[attr-defined]


def steady(sched: ServiceScheduler, fleet: FakeFleet, desired: int = 2, **kwargs: object) -> ServiceStatus:
    steps = drive(sched, fleet, spec(desired, **kwargs), until=fleet.now + 30)
    return steps[-1].status


def test_a_fresh_service_launches_its_tasks_registers_them_once_running_and_completes_once_healthy() -> None:
    sched, fleet = scheduler(), FakeFleet()
    first = sched.step(0, spec(2), {}, {})
    assert first.commands == (Launch("t1", GOOD), Launch("t2", GOOD))
    assert [t.last_status for t in first.status.tasks] == ["PROVISIONING", "PROVISIONING"]
    assert first.status.deployments[0].rollout_state == "IN_PROGRESS"
    assert first.status.deployments[0].rollout_state_reason == "ECS deployment ecs-svc/1 in progress."
    assert sched.deployment_in_progress
    run(fleet, first.commands, 0)

    fleet.now = 1
    pending = sched.step(1, spec(2), fleet.reports(), fleet.targets())
    assert (pending.status.pending_count, pending.status.running_count) == (2, 0)
    assert task(pending.status, "t1").last_status == "PENDING"

    fleet.now = 2  # started
    running = sched.step(2, spec(2), fleet.reports(), fleet.targets())
    assert running.commands == (Register("t1"), Register("t2"))
    assert task(running.status, "t1").started_at == 2
    assert task(running.status, "t1").health_status == "UNKNOWN"  # the target is `initial`
    run(fleet, running.commands, 2)

    fleet.now = 3  # healthy
    done = sched.step(3, spec(2), fleet.reports(), fleet.targets())
    deployment = done.status.deployments[0]
    assert (deployment.status, deployment.rollout_state, deployment.running_count) == (
        "PRIMARY",
        "COMPLETED",
        2,
    )
    assert deployment.rollout_state_reason == "ECS deployment ecs-svc/1 completed."
    assert task(done.status, "t1").health_status == "HEALTHY"
    assert not sched.deployment_in_progress and not done.status.deployment_in_progress
    assert [e.message for e in done.status.events] == [
        "(service chat) has reached a steady state.",
        "(service chat) (deployment ecs-svc/1) deployment completed.",
        f"(service chat) registered 2 targets in (target-group {TG})",
        "(service chat) has started 2 tasks: (task t1) (task t2).",
    ]
    assert [e.event_id for e in done.status.events] == ["e4", "e3", "e2", "e1"]


def test_a_step_that_changes_nothing_says_so() -> None:
    sched, fleet = scheduler(), FakeFleet()
    steady(sched, fleet)
    again = sched.step(fleet.now, spec(2), fleet.reports(), fleet.targets())
    assert again.commands == () and not again.changed


def test_stop_order_deregister_drain_until_unused_sigterm_then_sigkill_after_stop_timeout() -> None:
    """Scale-in of a task that ignores SIGTERM: Deregister, draining 5 s, Terminate, Kill 10 s later."""
    fleet = FakeFleet({GOOD.task_definition_arn: Behaviour(drain_seconds=5, ignores_sigterm=True)})
    sched = scheduler()
    steady(sched, fleet)
    t0 = fleet.now
    steps = drive(sched, fleet, spec(1), until=t0 + 30, start=t0)
    stops = [(at - t0, f"{type(c).__name__} {c.task_id}") for at, c in fleet.log if at >= t0]
    assert stops == [(0, "Deregister t2"), (5, "Terminate t2"), (15, "Kill t2"), (16, "Forget t2")]
    assert task(steps[1].status, "t2").last_status == "DEACTIVATING"
    assert task(steps[5].status, "t2").last_status == "STOPPING"
    stopped = task(steps[-1].status, "t2")
    assert (stopped.last_status, stopped.desired_status, stopped.exit_code) == ("STOPPED", "STOPPED", 137)
    assert stopped.stopped_reason == "Scaling activity initiated by (deployment ecs-svc/1)"
    assert (stopped.stopping_at, stopped.stopped_at) == (t0, t0 + 16)
    assert steps[-1].status.running_count == 1
    messages = [e.message for e in steps[-1].status.events]
    assert "(service chat) has begun draining connections on 1 tasks." in messages
    assert f"(service chat) deregistered 1 targets in (target-group {TG})" in messages
    assert "(service chat) has stopped 1 running tasks: (task t2)." in messages


def test_next_deadline_is_the_stop_timeout_of_a_task_that_was_sent_sigterm() -> None:
    fleet = FakeFleet({GOOD.task_definition_arn: Behaviour(ignores_sigterm=True)})
    sched = scheduler()
    steady(sched, fleet)
    assert sched.next_deadline(fleet.now) is None
    t0 = fleet.now
    drive(sched, fleet, spec(1), until=t0 + 1, start=t0)  # Deregister, then Terminate (no connections)
    assert sched.next_deadline(t0 + 1) == t0 + 1 + GOOD.stop_timeout_seconds


def test_scale_in_stops_the_not_yet_running_then_the_unhealthy_then_the_newest() -> None:
    sched = scheduler()
    sched.step(0, spec(4, health_check_grace_period_seconds=60), {}, {})
    reports = {
        "t1": TaskReport("t1", started=True),
        "t2": TaskReport("t2"),
        "t3": TaskReport("t3", started=True),
        "t4": TaskReport("t4", started=True),
    }
    sched.step(1, spec(4, health_check_grace_period_seconds=60), reports, {})
    targets = {"t1": TargetReport("healthy"), "t3": TargetReport("healthy"), "t4": TargetReport("unhealthy")}
    sched.step(2, spec(4, health_check_grace_period_seconds=60), reports, targets)
    scale_in = sched.step(3, spec(1, health_check_grace_period_seconds=60), reports, targets)
    assert names(scale_in.commands) == ["Kill t2", "Deregister t4", "Deregister t3"]
    assert task(scale_in.status, "t2").last_status == "STOPPING"  # killed at once: it never ran
    assert task(scale_in.status, "t1").desired_status == "RUNNING"


def test_a_worker_that_exits_on_its_own_is_stopped_deregistered_and_replaced() -> None:
    sched, fleet = scheduler(), FakeFleet()
    steady(sched, fleet)
    fleet.tasks["t1"].exit_at, fleet.tasks["t1"].exit_code = fleet.now, 3
    crash = sched.step(fleet.now, spec(2), fleet.reports(), fleet.targets())
    assert crash.commands == (Deregister("t1"), Forget("t1"), Launch("t3", GOOD))
    stopped = task(crash.status, "t1")
    assert (stopped.last_status, stopped.stopped_reason, stopped.exit_code) == (
        "STOPPED",
        "Essential container in task exited",
        3,
    )
    assert crash.status.deployments[0].rollout_state == "COMPLETED"  # a replacement is no deployment


def test_a_task_that_cannot_start_is_stopped_with_the_error_and_replaced() -> None:
    fleet = FakeFleet({BAD.task_definition_arn: Behaviour(start_error="CannotPullContainerError: no image")})
    sched = scheduler()
    steps = drive(sched, fleet, spec(1, revision=BAD), until=2)
    stopped = task(steps[-1].status, "t1")
    assert stopped.last_status == "STOPPED"
    assert stopped.stopped_reason == "Task failed to start: CannotPullContainerError: no image"
    assert Launch("t2", BAD) in steps[-1].commands
    assert steps[-1].status.deployments[0].failed_tasks == 1


def test_an_unhealthy_task_is_replaced_only_after_the_grace_period() -> None:
    fleet = FakeFleet({GOOD.task_definition_arn: Behaviour(healthy=False)})
    sched = scheduler()
    service = spec(1, health_check_grace_period_seconds=30)
    steps = drive(sched, fleet, service, until=10)  # started at 2, unhealthy from 3
    assert task(steps[-1].status, "t1").health_status == "UNHEALTHY"
    assert task(steps[-1].status, "t1").desired_status == "RUNNING"
    assert sched.next_deadline(10) == 32
    fleet.now = 32
    stop = sched.step(32, service, fleet.reports(), fleet.targets())
    assert stop.commands == (Deregister("t1"), Launch("t2", GOOD))
    assert task(stop.status, "t1").stopped_reason == f"Task failed ELB health checks in (target-group {TG})"
    assert (
        f"(service chat) (task t1) is unhealthy in (target-group {TG}) due to (reason Health checks failed)."
        in [e.message for e in stop.status.events]
    )


def test_without_a_target_group_a_running_task_is_healthy_and_stops_with_sigterm_at_once() -> None:
    sched, fleet = scheduler(), FakeFleet()
    steps = drive(sched, fleet, spec(1, target_group_arn=""), until=5)
    assert not any(isinstance(c, Register) for _, c in fleet.log)
    assert steps[-1].status.deployments[0].rollout_state == "COMPLETED"
    scale_in = sched.step(6, spec(0, target_group_arn=""), fleet.reports(), fleet.targets())
    assert scale_in.commands == (Terminate("t1"),)


def test_a_rolling_deployment_lists_primary_and_active_then_only_the_completed_primary() -> None:
    sched, fleet = scheduler(), FakeFleet()
    steady(sched, fleet)
    new = spec(2, "ecs-svc/2", NEW)
    start = sched.step(fleet.now, new, fleet.reports(), fleet.targets())
    run(fleet, start.commands, fleet.now)
    assert start.commands == (Launch("t3", NEW), Launch("t4", NEW))  # 200 %: two more; 100 %: none stops yet
    assert [(d.deployment_id, d.status, d.desired_count) for d in start.status.deployments] == [
        ("ecs-svc/2", "PRIMARY", 2),
        ("ecs-svc/1", "ACTIVE", 2),
    ]
    assert sched.deployment_in_progress
    steps = drive(sched, fleet, new, until=fleet.now + 30, start=fleet.now + 1)
    final = steps[-1].status
    assert [(d.deployment_id, d.rollout_state) for d in final.deployments] == [("ecs-svc/2", "COMPLETED")]
    assert {t.task_id for t in final.tasks if t.last_status != "STOPPED"} == {"t3", "t4"}
    assert {t.task_definition_arn for t in final.tasks if t.last_status != "STOPPED"} == {
        NEW.task_definition_arn
    }
    assert task(final, "t1").stopped_reason == "Scaling activity initiated by (deployment ecs-svc/2)"
    assert "(service chat) (deployment ecs-svc/2) deployment completed." in [e.message for e in final.events]
    assert not sched.deployment_in_progress


def test_the_circuit_breaker_fails_a_deployment_whose_tasks_never_get_healthy_and_asks_for_a_rollback() -> (
    None
):
    fleet = FakeFleet({BAD.task_definition_arn: Behaviour(healthy=False)})
    sched = scheduler()
    breaker = {"circuit_breaker_enable": True, "circuit_breaker_rollback": True}
    steady(sched, fleet, **breaker)
    bad = spec(2, "ecs-svc/2", BAD, **breaker)
    steps = drive(sched, fleet, bad, until=fleet.now + 60, stop_when=lambda s: s.status.rollback is not None)
    tripped = steps[-1].status
    assert tripped.rollback is not None
    assert (tripped.rollback.failed_deployment_id, tripped.rollback.task_definition_arn) == (
        "ecs-svc/2",
        GOOD.task_definition_arn,
    )
    primary = tripped.deployments[0]
    assert (primary.deployment_id, primary.rollout_state) == ("ecs-svc/2", "FAILED")
    assert primary.failed_tasks >= 3  # threshold for desired 2: 3 (two fail together, so 4 here)
    assert primary.rollout_state_reason == "ECS deployment circuit breaker: tasks failed to start."
    messages = [e.message for e in tripped.events]
    assert messages[:2] == [
        "(service chat) rolling back to deployment ecs-svc/1.",
        "(service chat) (deployment ecs-svc/2) deployment failed: tasks failed to start.",
    ]
    assert not sched.deployment_in_progress
    # old tasks still serve: minimumHealthyPercent 100 never let one go
    assert {t.task_id for t in tripped.tasks if t.desired_status == "RUNNING"} >= {"t1", "t2"}
    later = sched.step(fleet.now + 1, bad, fleet.reports(), fleet.targets())
    assert later.status.rollback is None  # asked once
    # the account answers with a new PRIMARY deployment of the last completed task definition
    rollback = spec(2, "ecs-svc/3", GOOD, **breaker)
    final = drive(sched, fleet, rollback, until=fleet.now + 60, start=fleet.now + 2)[-1].status
    assert [(d.deployment_id, d.rollout_state) for d in final.deployments] == [("ecs-svc/3", "COMPLETED")]
    assert {t.task_definition_arn for t in final.tasks if t.last_status != "STOPPED"} == {
        GOOD.task_definition_arn
    }


def test_without_rollback_a_failed_deployment_stops_launching_and_keeps_what_runs() -> None:
    fleet = FakeFleet({BAD.task_definition_arn: Behaviour(start_error="CannotPullContainerError")})
    sched = scheduler()
    steady(sched, fleet, circuit_breaker_enable=True)
    bad = spec(2, "ecs-svc/2", BAD, circuit_breaker_enable=True)
    steps = drive(sched, fleet, bad, until=fleet.now + 60)
    final = steps[-1].status
    assert final.deployments[0].rollout_state == "FAILED"
    assert final.rollback is None
    launches = [c for _, c in fleet.log if isinstance(c, Launch) and c.revision == BAD]
    assert len(launches) == 4  # two at a time (200 %); the second pair's failures reach the threshold (3)
    assert steps[-1].commands == ()
    assert {t.task_id for t in final.tasks if t.last_status == "RUNNING"} == {"t1", "t2"}
    assert not sched.deployment_in_progress and not final.deployment_in_progress


def test_a_fresh_service_whose_tasks_fail_has_no_deployment_to_roll_back_to() -> None:
    fleet = FakeFleet({BAD.task_definition_arn: Behaviour(crash_after=0.5)})
    sched = scheduler()
    service = spec(2, revision=BAD, circuit_breaker_enable=True, circuit_breaker_rollback=True)
    steps = drive(sched, fleet, service, until=60)
    assert all(s.status.rollback is None for s in steps)
    assert steps[-1].status.deployments[0].rollout_state == "FAILED"


def test_a_healthy_task_resets_the_failure_count() -> None:
    sched = scheduler()
    service = spec(3, circuit_breaker_enable=True)
    sched.step(0, service, {}, {})
    failed = {"t1": TaskReport("t1", start_error="x"), "t2": TaskReport("t2", start_error="x")}
    step = sched.step(1, service, {**failed, "t3": TaskReport("t3", started=True)}, {})
    assert step.status.deployments[0].failed_tasks == 2
    step = sched.step(2, service, {"t3": TaskReport("t3", started=True)}, {"t3": TargetReport("healthy")})
    assert step.status.deployments[0].failed_tasks == 0


def test_stop_all_stops_every_task_in_order_and_launches_nothing() -> None:
    sched, fleet = scheduler(), FakeFleet()
    steady(sched, fleet)
    sched.stop_all(fleet.now, "Emulator shutting down")
    assert not sched.done
    steps = drive(sched, fleet, spec(2), until=fleet.now + 30, stop_when=lambda s: sched.done)
    assert sched.done
    assert names(steps[0].commands) == ["Deregister t1", "Deregister t2"]
    assert not any(isinstance(c, Launch) for s in steps for c in s.commands)
    assert {t.stopped_reason for t in steps[-1].status.tasks} == {"Emulator shutting down"}


def test_a_forced_stop_kills_every_task_at_once() -> None:
    sched, fleet = scheduler(), FakeFleet()
    steady(sched, fleet)
    sched.stop_all(fleet.now, "Emulator shutting down", force=True)
    kill = sched.step(fleet.now, spec(2), fleet.reports(), fleet.targets())
    assert kill.commands == (Kill("t1"), Kill("t2"))
    run(fleet, kill.commands, fleet.now)
    last = sched.step(fleet.now, spec(2), fleet.reports(), fleet.targets())
    assert last.commands == (Forget("t1"), Forget("t2")) and sched.done


def test_status_keeps_the_last_stopped_tasks_and_the_last_100_events() -> None:
    fleet = FakeFleet({GOOD.task_definition_arn: Behaviour(crash_after=1)})
    sched = scheduler(max_stopped_tasks=3)
    status = drive(sched, fleet, spec(1), until=200)[-1].status
    stopped = [t for t in status.tasks if t.last_status == "STOPPED"]
    assert len(stopped) == 3 and stopped == sorted(stopped, key=lambda t: t.created_at)
    assert len(status.events) == 100
    assert status.events[0].created_at >= status.events[-1].created_at


def test_the_same_reports_give_the_same_steps() -> None:
    def once() -> list[Step]:
        fleet = FakeFleet({NEW.task_definition_arn: Behaviour(healthy=False)})
        sched = scheduler()
        steady(sched, fleet, circuit_breaker_enable=True)
        return list(drive(sched, fleet, spec(2, "ecs-svc/2", NEW), until=fleet.now + 40))

    assert once() == once()


def test_stop_task_stops_that_task_in_order_with_the_users_reason_and_the_service_replaces_it() -> None:
    """ECS StopTask on a service's task: deregister, drain, SIGTERM; a new task takes its place."""
    sched, fleet = scheduler(), FakeFleet()
    steady(sched, fleet)
    t0 = fleet.now
    assert sched.stop_task(t0, "t1", "Task stopped by user")
    assert not sched.stop_task(t0, "t1", "again")  # already stopping
    assert not sched.stop_task(t0, "nope", "unknown")
    steps = drive(sched, fleet, spec(2), until=t0 + 30, start=t0)
    assert names(steps[0].commands)[:1] == ["Deregister t1"]
    stopped = task(steps[-1].status, "t1")
    assert (stopped.last_status, stopped.stopped_reason) == ("STOPPED", "Task stopped by user")
    assert steps[-1].status.running_count == 2
    assert {t.task_id for t in steps[-1].status.tasks if t.last_status == "RUNNING"} == {"t2", "t3"}

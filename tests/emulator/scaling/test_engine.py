"""One evaluation of the control plane with the seed's alarms and policies, and the reference's rules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from emulator.model import ServiceDescription, StepAdjustment, StepScalingPolicy, TargetTrackingPolicy
from emulator.scaling.engine import Evaluation, ScalingState, Situation, evaluate
from emulator.scaling.metrics import MetricStore, StatisticSet, metric_key
from emulator.scaling.policies import ControlPlan

KEY = metric_key("AWS/ECS", "CPUUtilization", (("ClusterName", "c"), ("ServiceName", "s")))


class Run:
    """Feeds one CPU datapoint per minute and evaluates at the end of each minute.

    The datapoint is ECS's: one sample per RUNNING task (SampleCount = the running count)."""

    def __init__(self, service: ServiceDescription) -> None:
        self.service = service
        self.plan = ControlPlan.of(service)
        self.store = MetricStore()
        self.state = ScalingState()
        self.minute = 0
        self.desired = service.desired_count

    def step(self, cpu: float | None, running: int | None = None, **kw: bool) -> Evaluation:
        tasks = self.desired if running is None else running
        if cpu is not None:
            self.store.put(KEY, self.minute * 60, StatisticSet(tasks, cpu * tasks, cpu, cpu))
        self.minute += 1
        situation = Situation(self.minute * 60, self.desired, tasks, **kw)
        result = evaluate(self.plan, self.service.scalable_target, self.state, self.store, situation)
        self.state, self.desired = result.state, result.desired
        return result


def test_alarms_start_insufficient_and_the_high_alarm_runs_its_step(seed_service: ServiceDescription) -> None:
    run = Run(seed_service)
    assert run.state.alarm_state("high-cpu") == "INSUFFICIENT_DATA"
    first = run.step(90)  # delta 20 -> step [15, 25) -> +2
    assert run.state.alarm_states == {"high-cpu": "ALARM", "low-cpu": "OK"}
    assert first.activity is not None
    assert (first.activity.cause, first.activity.description) == ("high-cpu", "+2 ScaleUpPolicy")
    assert (first.activity.from_capacity, first.activity.to_capacity, first.activity.time) == (2, 4, 60)


@pytest.mark.parametrize(("cpu", "desired"), [(70, 3), (84.9, 3), (85, 4), (94.9, 4), (95, 5), (100, 5)])
def test_seed_steps(seed_service: ServiceDescription, cpu: float, desired: int) -> None:
    assert Run(seed_service).step(cpu).desired == desired


def test_policy_reruns_every_minute_while_the_alarm_stays_in_alarm(seed_service: ServiceDescription) -> None:
    """Reference 1.10: not only on the transition. Cooldown 60 s has ended at each next minute."""
    run = Run(seed_service)
    desired = [run.step(75, running=run.desired).desired for _ in range(4)]
    assert desired == [3, 4, 5, 6]


def test_running_count_is_the_base(seed_service: ServiceDescription) -> None:
    run = Run(
        replace(seed_service, step_policies=tuple(replace(p, cooldown=0) for p in seed_service.step_policies))
    )
    assert run.step(75, running=2).desired == 3
    assert run.step(75, running=2).activity is None  # 2 running + 1 = 3: already desired, no runaway


def test_capacity_added_during_scale_out_cooldown_counts(seed_service: ServiceDescription) -> None:
    """Reference 2.8: +2, then the +3 step during the cooldown adds only +1."""
    policies = tuple(replace(p, cooldown=300) for p in seed_service.step_policies)
    run = Run(replace(seed_service, step_policies=policies))
    assert run.step(90, running=2).desired == 4
    third = run.step(100, running=2)
    assert third.desired == 5
    assert third.activity is not None and third.activity.description == "+1 ScaleUpPolicy"
    assert run.step(75, running=5).activity is None  # a smaller scale-out inside the cooldown: nothing


def test_scale_in_is_blocked_inside_a_scale_in_cooldown(seed_service: ServiceDescription) -> None:
    policies = tuple(replace(p, cooldown=180) for p in seed_service.step_policies)
    run = Run(replace(seed_service, step_policies=policies, desired_count=6))
    assert [run.step(10).desired for _ in range(5)] == [5, 5, 5, 4, 4]


def test_scale_out_cancels_the_scale_in_cooldown(seed_service: ServiceDescription) -> None:
    policies = tuple(replace(p, cooldown=300) for p in seed_service.step_policies)
    run = Run(replace(seed_service, step_policies=policies, desired_count=6))
    assert run.step(10).desired == 5
    assert run.step(80).desired == 6
    assert run.state.scale_in_cooldown is None
    assert run.step(10).desired == 5  # scale-in right after a scale-out is not blocked


def test_min_max_clamping(seed_service: ServiceDescription) -> None:
    assert Run(replace(seed_service, desired_count=10)).step(100).activity is None
    assert Run(seed_service).step(5).activity is None  # at MinCapacity 2
    below = Run(replace(seed_service, desired_count=1))
    assert below.step(5).activity is None  # desired < min: a scale-in alarm does nothing
    assert below.step(75, running=1).desired == 3  # first set to min 2, then +1
    above = Run(replace(seed_service, desired_count=12))
    assert above.step(100, running=12).activity is None  # desired > max: a scale-out alarm does nothing
    assert above.step(5, running=12).desired == 9  # first set to max 10, then -1
    assert Run(replace(seed_service, desired_count=9)).step(100, running=9).desired == 10


def test_suspended_states_and_deployments(seed_service: ServiceDescription) -> None:
    assert seed_service.scalable_target is not None
    out_suspended = replace(seed_service.scalable_target, dynamic_scaling_out_suspended=True)
    assert Run(replace(seed_service, scalable_target=out_suspended)).step(100).activity is None
    in_suspended = replace(seed_service.scalable_target, dynamic_scaling_in_suspended=True)
    assert Run(replace(seed_service, scalable_target=in_suspended, desired_count=5)).step(5).activity is None
    deploying = Run(replace(seed_service, desired_count=5))
    assert deploying.step(5, deployment_in_progress=True).activity is None  # no scale-in during a deployment
    assert deploying.step(100, deployment_in_progress=True).desired == 8  # scale-out continues


def test_several_policies_the_largest_capacity_wins(seed_service: ServiceDescription) -> None:
    """Reference 2.9: current 10, one policy +3, another +200 %: 30."""
    arn = seed_service.step_policies[0].policy_arn
    percent = StepScalingPolicy(
        "Triple", arn, "PercentChangeInCapacity", (StepAdjustment(200, 0, None),), cooldown=60
    )
    plus3 = replace(seed_service.step_policies[0], step_adjustments=(StepAdjustment(3, 0, None),))
    target = replace(seed_service.scalable_target, max_capacity=50)  # type: ignore[type-var]
    service = replace(
        seed_service,
        step_policies=(plus3, percent, seed_service.step_policies[1]),
        desired_count=10,
        scalable_target=target,
    )
    result = Run(service).step(75)
    assert result.desired == 30 and result.activity is not None and result.activity.policy_name == "Triple"


def test_alarm_without_data_never_acts(seed_service: ServiceDescription) -> None:
    run = Run(seed_service)
    result = run.step(None)
    assert result.activity is None and run.state.alarm_states["high-cpu"] == "INSUFFICIENT_DATA"


def tracking(seed_service: ServiceDescription, **kw: object) -> ServiceDescription:
    policy = TargetTrackingPolicy("cpu-target", "arn:tt", target_value=50, **kw)  # type: ignore[arg-type]
    return replace(
        seed_service, step_policies=(), alarms=(), target_tracking_policies=(policy,), desired_count=4
    )


def test_target_tracking_needs_three_high_minutes_and_fifteen_low(seed_service: ServiceDescription) -> None:
    run = Run(tracking(seed_service))
    assert [run.step(100).desired for _ in range(3)] == [4, 4, 8]  # ceil(4 x 100 / 50)
    low = Run(tracking(seed_service))
    desired = [low.step(20).desired for _ in range(15)]
    assert desired[:14] == [4] * 14 and desired[14] == 3  # ceil(4 x 20 / 50) = 2, one task per activity


def test_target_tracking_cooldowns_and_disable_scale_in(seed_service: ServiceDescription) -> None:
    run = Run(tracking(seed_service, scale_out_cooldown=300))
    steps = [run.step(100, running=4).desired for _ in range(5)]
    assert steps == [4, 4, 8, 8, 8]  # later calls inside the cooldown ask for no more than 8
    no_in = Run(tracking(seed_service, disable_scale_in=True))
    assert all(no_in.step(5).activity is None for _ in range(20))
    assert not any(name.endswith("AlarmLow-cpu-target") for name in no_in.state.alarm_states)


def exact(seed_service: ServiceDescription, cooldown: int = 300) -> ServiceDescription:
    """The scale-out policy as ExactCapacity: 4 tasks from 70 %, 7 from 85 %, 9 from 95 %."""
    up = replace(
        seed_service.step_policies[0],
        adjustment_type="ExactCapacity",
        step_adjustments=(StepAdjustment(4, 0, 15), StepAdjustment(7, 15, 25), StepAdjustment(9, 25, None)),
        cooldown=cooldown,
    )
    return replace(seed_service, step_policies=(up, seed_service.step_policies[1]))


def test_exact_capacity_asked_for_during_a_scale_out_cooldown_is_absolute(
    seed_service: ServiceDescription,
) -> None:
    """A larger ExactCapacity inside the cooldown is applied as asked (it was read as relative: 2 + 7 - 4 = 5)."""
    run = Run(exact(seed_service))
    assert run.step(75, running=2).desired == 4
    larger = run.step(90, running=4)  # the 2 new tasks run; still inside the 300 s cooldown
    assert larger.desired == 7
    assert larger.activity is not None and larger.activity.description == "+3 ScaleUpPolicy"
    assert run.step(75, running=4).activity is None  # a smaller one inside the cooldown: nothing
    assert run.step(100, running=4).desired == 9


def test_relative_adjustments_during_a_scale_out_cooldown_count_from_the_cooldown_base(
    seed_service: ServiceDescription,
) -> None:
    """ChangeInCapacity keeps AWS's rule max(desired, cooldown base + adjustment), whatever runs now."""
    policies = tuple(replace(p, cooldown=300) for p in seed_service.step_policies)
    run = Run(replace(seed_service, step_policies=policies))
    assert run.step(90, running=2).desired == 4  # +2 from 2
    assert run.step(100, running=4).desired == 5  # +3 from the base 2, not from the 4 running

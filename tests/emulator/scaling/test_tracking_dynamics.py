"""Target tracking over time with the pure engine: a steady load settles where the proportional rule says,
without overshooting, and a load that goes away is scaled in over several activities (issue 10).

The model is the simulator's: minute m runs over [60m, 60m + 60); its CPUUtilization datum is measured on
the tasks RUNNING at its start, `min(100, 100 x demand / (running x task vCPU))`, one sample per task; at its
end the alarms are evaluated and the policies run from the running count. A task added then is RUNNING
60 s later; a task removed is gone at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from emulator.model import ScalableTarget, ServiceDescription, TargetTrackingPolicy
from emulator.scaling.engine import ScalingActivity, ScalingState, Situation, evaluate
from emulator.scaling.metrics import MetricStore, StatisticSet, metric_key
from emulator.scaling.policies import ControlPlan

KEY = metric_key("AWS/ECS", "CPUUtilization", (("ClusterName", "c"), ("ServiceName", "s")))
TASK_START_SECONDS = 60


@dataclass(frozen=True)
class Minute:
    demand: float
    cpu: float
    running: int  # at the minute's start
    desired: int  # after the evaluation at its end
    activity: ScalingActivity | None


def run(service: ServiceDescription, demand: list[float]) -> list[Minute]:
    plan, store, state = ControlPlan.of(service), MetricStore(), ScalingState()
    task_vcpu = service.task_definition.vcpu
    ready_at = [0.0] * service.desired_count  # when each task of the service is RUNNING
    desired, minutes = service.desired_count, []
    for m, load in enumerate(demand):
        start, end = 60 * m, 60 * m + 60
        running = sum(1 for t in ready_at if t <= start)
        cpu = min(100.0, 100.0 * load / (running * task_vcpu))
        store.put(KEY, start, StatisticSet(running, cpu * running, cpu, cpu))
        situation = Situation(end, desired, sum(1 for t in ready_at if t <= end))
        result = evaluate(plan, service.scalable_target, state, store, situation)
        state, desired = result.state, result.desired
        ready_at = sorted(ready_at)[:desired] + [end + TASK_START_SECONDS] * (desired - len(ready_at))
        minutes.append(Minute(load, cpu, running, desired, result.activity))
    return minutes


def tracking_service(seed_service: ServiceDescription, target: float, cooldown: int) -> ServiceDescription:
    """The stack's TargetTrackingScaling mode: 1 vCPU tasks, 2..10 tasks, ScalingCooldown both ways."""
    policy = TargetTrackingPolicy(
        "cpu-target", "arn:tt", target, scale_out_cooldown=cooldown, scale_in_cooldown=cooldown
    )
    assert seed_service.task_definition.vcpu == 1
    return replace(
        seed_service,
        step_policies=(),
        alarms=(),
        target_tracking_policies=(policy,),
        scalable_target=ScalableTarget("service/c/s", min_capacity=2, max_capacity=10),
    )


def steps(minutes: list[Minute]) -> list[tuple[int, int]]:
    return [(a.from_capacity, a.to_capacity) for m in minutes if (a := m.activity) is not None]


def test_three_vcpu_at_a_50_percent_target_settles_at_6_without_overshooting(
    seed_service: ServiceDescription,
) -> None:
    """Before: 2 -> 4 -> 8 -> 10, each datapoint measured on the old fleet read against the new one."""
    needed = math.ceil(100 * 3.0 / 50)
    for cooldown in (60, 300):  # the stack's ScalingCooldown, and AWS's default
        minutes = run(tracking_service(seed_service, 50, cooldown), [3.0] * 40)
        assert needed == 6
        assert max(m.desired for m in minutes) == needed, cooldown
        assert steps(minutes) == [(2, 4), (4, 6)], cooldown
        assert minutes[-1].desired == minutes[-1].running == 6
        assert minutes[-1].cpu == 50


def test_a_load_that_goes_away_is_scaled_in_over_several_activities(seed_service: ServiceDescription) -> None:
    """Before: 10 -> 2 in one activity. Now at most 10 % of the tasks (at least one) per activity."""
    service = replace(tracking_service(seed_service, 50, 60), desired_count=6)
    minutes = run(service, [3.0] * 10 + [0.5] * 40)
    scale_in = [(a, b) for a, b in steps(minutes) if b < a]
    assert scale_in == [(6, 5), (5, 4), (4, 3), (3, 2)]
    first = next(i for i, m in enumerate(minutes) if m.desired < 6)
    assert first == 10 + 14  # AlarmLow: 15 of 15 minutes below 45 %
    assert minutes[-1].desired == 2


def test_a_saturated_fleet_doubles_each_time_a_datapoint_of_the_new_tasks_arrives(
    seed_service: ServiceDescription,
) -> None:
    """CPU is capped at 100 %: 2 tasks at 100 % can only show that twice as many are needed."""
    minutes = run(tracking_service(seed_service, 50, 300), [20.0] * 20)
    assert steps(minutes) == [(2, 4), (4, 8), (8, 10)]
    assert [i for i, m in enumerate(minutes) if m.activity is not None] == [2, 4, 6]


def test_a_scale_out_during_the_scale_in_cooldown_runs_at_once(seed_service: ServiceDescription) -> None:
    service = replace(tracking_service(seed_service, 50, 300), desired_count=6)
    minutes = run(service, [0.5] * 16 + [5.0] * 10)
    assert steps(minutes)[:2] == [(6, 5), (5, 10)]

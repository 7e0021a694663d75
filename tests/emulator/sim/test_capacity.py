"""The capacity planner's promises: a load in users scales as its vCPU equivalent does under the committed cost
model, and target tracking on ActiveConnections holds connections per task at the target."""

from __future__ import annotations

import dataclasses

import pytest

from emulator.model import CustomizedMetric, ServiceDescription, TargetTrackingPolicy, TaskDefinition
from emulator.sim.costmodel import CostModel
from emulator.sim.load import Load
from emulator.sim.run import Options, simulate

MODEL = CostModel.read()  # the committed calibration


def users_for(model: CostModel, vcpu: float, messages_per_user: float) -> float:
    """The connections whose load is `vcpu` when each user sends `messages_per_user` messages per second."""
    low, high = 0.0, 1e7
    for _ in range(100):
        middle = (low + high) / 2
        if model.demand_vcpu(middle, middle * messages_per_user) < vcpu:
            low = middle
        else:
            high = middle
    return low


def test_a_load_in_users_scales_like_its_demand_vcpu_equivalent(seed_service: ServiceDescription) -> None:
    # vCPU per minute, kept off the alarms' exact thresholds (a float a hair either side of 20 % is another story)
    profile = [0.53] * 10 + [0.53 + 0.1 * i for i in range(15)] + [1.97] * 20
    profile += [1.97 - 0.1 * i for i in range(15)] + [0.37] * 40
    rate = 0.01  # messages per second per user
    connections = [users_for(MODEL, v, rate) for v in profile]
    users = Load.of_users(connections, [c * rate for c in connections])
    vcpu = Load.of_vcpu(
        [MODEL.demand_vcpu(c, m) for c, m in zip(users.connections, users.messages_per_s, strict=True)]
    )
    assert vcpu.demand_vcpu == pytest.approx(tuple(profile), rel=1e-6)

    in_users = simulate(seed_service, users, options=Options(model=MODEL))
    in_vcpu = simulate(seed_service, vcpu, options=Options(model=MODEL))

    assert in_users.summary().minutes_over_capacity == 0  # no task was capped: the averages must agree
    decisions = [(r.desired, r.running, r.alarm_high, r.alarm_low) for r in in_users.rows]
    assert decisions == [(r.desired, r.running, r.alarm_high, r.alarm_low) for r in in_vcpu.rows]
    assert [a.description for a in in_users.activities] == [a.description for a in in_vcpu.activities]
    assert len(in_users.activities) >= 2 and max(decisions)[0] > 2  # it did scale out and back in
    for a, b in zip(in_users.rows, in_vcpu.rows, strict=True):
        assert a.cpu_percent == pytest.approx(b.cpu_percent, abs=1e-6)


def connections_tracking(service: ServiceDescription, target: float) -> ServiceDescription:
    """The seed service with ScalingMetric=ActiveConnections as chat-service.yml deploys it."""
    dims = (("ClusterName", service.cluster_name), ("ServiceName", service.service_name))
    policy = TargetTrackingPolicy(
        "connections-target",
        "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:tt:resource/ecs/service/c/s:policyName/ct",
        target_value=target,
        predefined_metric_type="Customized",
        scale_out_cooldown=60,
        scale_in_cooldown=60,
        customized_metric=CustomizedMetric("FargateChat", "ActiveConnections", dims, "Average", "Count"),
    )
    env = (*service.task_definition.environment, ("METRICS_NAMESPACE", "FargateChat"))
    env += (("CLUSTER_NAME", service.cluster_name), ("SERVICE_NAME", service.service_name))
    task: TaskDefinition = dataclasses.replace(service.task_definition, environment=env)
    return dataclasses.replace(
        service, step_policies=(), alarms=(), target_tracking_policies=(policy,), task_definition=task
    )


def test_target_tracking_on_connections_scales_out_to_hold_the_target_and_back_in(
    seed_service: ServiceDescription,
) -> None:
    service = connections_tracking(seed_service, target=500)
    load = Load.of_users([600] * 10 + [3000] * 30 + [600] * 60, [0.0] * 100)  # idle users: CPU says nothing
    simulation = simulate(service, load, options=Options(model=MODEL))
    rows = simulation.rows
    assert rows[5].connections_per_task == pytest.approx(300)  # 600 users on the 2 tasks, as the metric says
    assert max(r.desired for r in rows) == 6  # ceil(2 tasks x 1500 / 500) = 6
    assert rows[39].running == 6 and rows[39].connections_per_task == pytest.approx(500)
    assert rows[-1].desired < 6  # back in as the users leave, 10 % at a time (at least one task)
    assert all(r.cpu_percent is not None and r.cpu_percent < 20 for r in rows)  # CPU alone would never scale
    assert simulation.high_alarm is not None and simulation.high_alarm.metric_name == "ActiveConnections"

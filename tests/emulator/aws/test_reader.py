"""read_service() returns what is deployed, and follows stack updates."""

from __future__ import annotations

import pytest

from emulator.aws import EmulatedAccount, ServiceNotFound, emulated_account, read_service
from emulator.model import (
    CustomizedMetric,
    DeploymentConfiguration,
    HealthCheck,
    ScalableTarget,
    StepAdjustment,
)


def test_reader_describes_the_seeds_service(deployed: EmulatedAccount) -> None:
    """Task size, desired count, target group, scalable target, policies and alarms, typed."""
    service = deployed.service

    assert (
        service.task_definition.cpu_units,
        service.task_definition.memory_mib,
        service.task_definition.container_port,
        service.task_definition.vcpu,
    ) == (1024, 2048, 3000, 1.0)
    assert service.desired_count == 2
    assert DeploymentConfiguration(200, 75) == service.deployment_configuration
    assert HealthCheck("/healthz", 6, 5, 2, 2, "200") == service.target_group.health_check
    assert (
        service.target_group.stickiness_enabled,
        service.target_group.deregistration_delay_seconds,
    ) == (True, 30)
    assert (
        ScalableTarget(resource_id=service.resource_id, min_capacity=2, max_capacity=10)
        == service.scalable_target
    )
    assert [p.policy_name for p in service.step_policies] == [
        "fargate-chat-service-scale-down",
        "fargate-chat-service-scale-up",
    ]
    assert (StepAdjustment(-1, None, 0.0),) == service.step_policies[0].step_adjustments
    assert [a.alarm_name for a in service.alarms] == [
        "fargate-chat-service-high-cpu",
        "fargate-chat-service-low-cpu",
    ]
    assert (service.step_policies[1].policy_arn,) == service.alarms[0].alarm_actions


def test_reader_works_from_plain_boto3_clients(deployed: EmulatedAccount) -> None:
    """A mapping of clients (or a boto3 Session) is enough: the reader never touches moto."""
    clients = {
        name: deployed.client(name) for name in ("ecs", "elbv2", "application-autoscaling", "cloudwatch")
    }

    assert deployed.service == read_service(clients, deployed.cluster_name, "chat")


def test_unknown_service_is_a_named_error(deployed: EmulatedAccount) -> None:
    """The error names the service and cluster."""
    with pytest.raises(ServiceNotFound, match="nope"):
        read_service(deployed, deployed.cluster_name, "nope")


def test_updating_parameters_changes_what_the_reader_returns(account: EmulatedAccount) -> None:
    """HighCpuThreshold, MaxCapacity, DesiredCount and ContainerCpu flow through update_stack."""
    before = account.service
    account.set_alarm_state("fargate-chat-service-high-cpu", "ALARM", "breaching before the update")

    after = account.update(
        {"HighCpuThreshold": 80, "MaxCapacity": 12, "DesiredCount": 3, "ContainerCpu": 2048}
    )
    high = account.client("cloudwatch").describe_alarms(AlarmNames=["fargate-chat-service-high-cpu"])[
        "MetricAlarms"
    ][0]

    assert after == account.service
    assert (before.alarms[0].threshold, after.alarms[0].threshold) == (70.0, 80.0)
    assert after.scalable_target is not None
    assert after.scalable_target.max_capacity == 12
    assert (after.desired_count, after.task_definition.cpu_units) == (3, 2048)
    assert after.task_definition.family == before.task_definition.family
    assert [p.policy_arn for p in before.step_policies] == [p.policy_arn for p in after.step_policies]
    assert high["StateValue"] == "ALARM"  # AWS keeps an alarm's state when its configuration changes


def test_target_tracking_mode_exposes_the_policy_and_awss_alarms() -> None:
    """ScalingMode=TargetTrackingScaling: one policy; AlarmHigh > target 3/3, AlarmLow < 0.9 target 15/15."""
    with emulated_account(
        params={"ScalingMode": "TargetTrackingScaling", "TargetCpuUtilization": 60}
    ) as account:
        service = account.service
        high = next(a for a in service.alarms if "-AlarmHigh-" in a.alarm_name)
        low = next(a for a in service.alarms if "-AlarmLow-" in a.alarm_name)
        states = {a["StateValue"] for a in account.client("cloudwatch").describe_alarms()["MetricAlarms"]}

    assert service.step_policies == ()
    assert [
        (p.target_value, p.scale_out_cooldown, p.scale_in_cooldown) for p in service.target_tracking_policies
    ] == [(60.0, 60, 60)]
    assert (
        high.comparison_operator,
        high.threshold,
        high.evaluation_periods,
        high.datapoints_to_alarm,
    ) == ("GreaterThanThreshold", 60.0, 3, 3)
    assert (
        low.comparison_operator,
        low.threshold,
        low.evaluation_periods,
        low.datapoints_to_alarm,
    ) == ("LessThanThreshold", 54.0, 15, 15)
    assert high.alarm_actions[0].startswith(service.target_tracking_policies[0].policy_arn)
    assert {"INSUFFICIENT_DATA"} == states


def test_scaling_on_connections_tracks_the_chat_s_own_metric_and_describe_alarms_says_so() -> None:
    """ScalingMetric=ActiveConnections: a CustomizedMetricSpecification; moto's two alarms (AWS/ECS CPUUtilization
    whatever the policy tracks) are set to the policy's metric; the workers are told to publish it."""
    params = {"ScalingMode": "TargetTrackingScaling", "ScalingMetric": "ActiveConnections"}
    with emulated_account(params={**params, "TargetConnectionsPerTask": 800}) as account:
        service = account.service
        described = account.client("cloudwatch").describe_alarms()["MetricAlarms"]

    (policy,) = service.target_tracking_policies
    dims = (("ClusterName", service.cluster_name), ("ServiceName", "chat"))
    assert policy.customized_metric == CustomizedMetric(
        "FargateChat", "ActiveConnections", dims, "Average", "Count"
    )
    assert (policy.policy_name, policy.target_value) == ("fargate-chat-service-connections-target", 800.0)
    assert sorted((a["Namespace"], a["MetricName"], a["Statistic"], a["Threshold"]) for a in described) == [
        ("FargateChat", "ActiveConnections", "Average", 720.0),
        ("FargateChat", "ActiveConnections", "Average", 800.0),
    ]
    assert all(a["Dimensions"] == [{"Name": n, "Value": v} for n, v in dims] for a in described)
    env = dict(service.task_definition.environment)
    assert (env["METRICS_NAMESPACE"], env["CLUSTER_NAME"], env["SERVICE_NAME"]) == (
        "FargateChat",
        dims[0][1],
        "chat",
    )


def test_the_workers_publish_no_metric_unless_the_service_scales_on_it() -> None:
    with emulated_account(params={"ScalingMode": "TargetTrackingScaling"}) as account:
        env = dict(account.service.task_definition.environment)
    assert "METRICS_NAMESPACE" not in env and env["SERVICE_NAME"] == "chat"


def test_encryption_in_transit_uses_a_replication_group_at_the_local_redis(local_redis_port: int) -> None:
    """EncryptionInTransit=true: REDIS_TLS=true, and the endpoint still resolves to the emulator's Redis."""
    with emulated_account(params={"EncryptionInTransit": "true"}, redis_port=local_redis_port) as account:
        env = dict(account.service.task_definition.environment)
        outputs = account.outputs["fargate-chat-resources"]

    assert ("true", "127.0.0.1", str(local_redis_port)) == (
        env["REDIS_TLS"],
        env["REDIS_ENDPOINT"],
        env["REDIS_PORT"],
    )
    assert outputs["RedisEndpoint"] == "127.0.0.1"

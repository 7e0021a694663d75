"""The issue's acceptance lines: every resource of the three stacks, deployed into moto, as configured."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime

import pytest

from emulator.autoscaler import cpu_metric_key
from emulator.aws import EmulatedAccount, emulated_account
from emulator.aws.templates import load_template, stack_plan
from emulator.ecs.model import ServiceStatus
from emulator.scaling.metrics import StatisticSet


def test_target_group_is_sticky_and_drains_for_30_seconds(deployed: EmulatedAccount) -> None:
    """describe_target_group_attributes shows stickiness on and a 30 s deregistration delay."""
    elbv2 = deployed.client("elbv2")
    arn = deployed.service.target_group.target_group_arn

    attrs = {
        a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    }
    group = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]

    assert attrs["stickiness.enabled"] == "true"
    assert attrs["deregistration_delay.timeout_seconds"] == "30"
    assert (
        group["HealthCheckPath"],
        group["HealthCheckIntervalSeconds"],
        group["HealthCheckTimeoutSeconds"],
        group["HealthyThresholdCount"],
        group["UnhealthyThresholdCount"],
    ) == ("/healthz", 6, 5, 2, 2)


def test_alarms_exist_with_the_policy_arns_as_actions(deployed: EmulatedAccount) -> None:
    """describe_alarms shows the high and low CPU alarms, each acting on its step policy."""
    policies = {
        p["PolicyName"].rsplit("-", 2)[-2] + "-" + p["PolicyName"].rsplit("-", 1)[-1]: p["PolicyARN"]
        for p in deployed.client("application-autoscaling").describe_scaling_policies(ServiceNamespace="ecs")[
            "ScalingPolicies"
        ]
    }
    alarms = {a["AlarmName"]: a for a in deployed.client("cloudwatch").describe_alarms()["MetricAlarms"]}

    high, low = alarms["fargate-chat-service-high-cpu"], alarms["fargate-chat-service-low-cpu"]

    assert [policies["scale-up"]] == high["AlarmActions"]
    assert [policies["scale-down"]] == low["AlarmActions"]
    assert (
        high["ComparisonOperator"],
        high["Threshold"],
        high["Period"],
        high["EvaluationPeriods"],
        high["Statistic"],
    ) == ("GreaterThanOrEqualToThreshold", 70.0, 60, 1, "Average")
    assert (low["ComparisonOperator"], low["Threshold"]) == ("LessThanOrEqualToThreshold", 20.0)
    assert {("ClusterName", deployed.cluster_name), ("ServiceName", "chat")} == {
        (d["Name"], d["Value"]) for d in high["Dimensions"]
    }


def test_new_alarms_start_in_insufficient_data(deployed: EmulatedAccount) -> None:
    """As in AWS (moto's own default is OK)."""
    states = {a["StateValue"] for a in deployed.client("cloudwatch").describe_alarms()["MetricAlarms"]}

    assert {"INSUFFICIENT_DATA"} == states


def test_scaling_policies_have_the_seeds_steps(deployed: EmulatedAccount) -> None:
    """describe_scaling_policies shows +1/+2/+3 above the threshold and -1 below, cooldown 60."""
    raw = deployed.client("application-autoscaling").describe_scaling_policies(ServiceNamespace="ecs")
    configs = {p["PolicyName"]: p["StepScalingPolicyConfiguration"] for p in raw["ScalingPolicies"]}

    up, down = configs["fargate-chat-service-scale-up"], configs["fargate-chat-service-scale-down"]

    assert up["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 15.0, "ScalingAdjustment": 1},
        {"MetricIntervalLowerBound": 15.0, "MetricIntervalUpperBound": 25.0, "ScalingAdjustment": 2},
        {"MetricIntervalLowerBound": 25.0, "ScalingAdjustment": 3},
    ]
    assert down["StepAdjustments"] == [{"MetricIntervalUpperBound": 0.0, "ScalingAdjustment": -1}]
    assert (up["AdjustmentType"], up["Cooldown"]) == ("ChangeInCapacity", 60)
    assert (down["AdjustmentType"], down["Cooldown"]) == ("ChangeInCapacity", 60)


def test_scalable_target_is_2_to_10_with_the_autoscaling_role(deployed: EmulatedAccount) -> None:
    """The scalable target uses the cluster stack's AutoscalingRole export (the seed exported the wrong role)."""
    target = deployed.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")[
        "ScalableTargets"
    ][0]
    role_arn = deployed.outputs["fargate-chat-cluster"]["AutoscalingRole"]

    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 10)
    assert role_arn == target["RoleARN"]
    assert "AutoscalingRole" in role_arn
    assert role_arn != deployed.outputs["fargate-chat-cluster"]["ECSTaskExecutionRole"]


def test_task_definition_resolves_redis_endpoint_to_the_local_redis(
    deployed: EmulatedAccount, local_redis_port: int
) -> None:
    """REDIS_ENDPOINT comes from the resources stack's export, which points at the emulator's Redis."""
    ecs = deployed.client("ecs")
    service = ecs.describe_services(cluster=deployed.cluster_name, services=["chat"])["services"][0]
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    env = {e["name"]: e["value"] for e in task["containerDefinitions"][0]["environment"]}

    assert env["REDIS_ENDPOINT"] == "127.0.0.1"
    assert str(local_redis_port) == env["REDIS_PORT"]
    assert (env["PING_INTERVAL"], env["PING_TIMEOUT"], env["PORT"]) == ("4", "8", "3000")
    assert (
        task["cpu"],
        task["memory"],
        task["networkMode"],
        task["requiresCompatibilities"],
    ) == ("1024", "2048", "awsvpc", ["FARGATE"])


def test_service_is_fargate_behind_the_target_group_with_its_deployment_configuration(
    deployed: EmulatedAccount,
) -> None:
    """describe_services shows FARGATE, the load balancer mapping, awsvpc and 200 % / 75 %."""
    service = deployed.client("ecs").describe_services(cluster=deployed.cluster_name, services=["chat"])[
        "services"
    ][0]

    assert service["launchType"] == "FARGATE"
    assert [
        {
            "targetGroupArn": deployed.outputs["fargate-chat-service"]["TargetGroupArn"],
            "containerName": "chat",
            "containerPort": 3000,
        }
    ] == service["loadBalancers"]
    assert service["deploymentConfiguration"] == {"maximumPercent": 200, "minimumHealthyPercent": 75}
    assert service["desiredCount"] == 2
    assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "ENABLED"


def test_every_resource_of_the_three_stacks_is_created_and_typed() -> None:
    """No resource is skipped: moto's 'No Moto CloudFormation support' warning is gone for ours."""
    not_created = {  # conditional resources: off with the default parameters
        "RedisReplicationGroup",
        "TargetTrackingPolicy",
        "PublicLoadBalancerHttpsIngress",
        "PublicLoadBalancerHttpsListener",
        "AccessLogsBucket",
        "AccessLogsBucketPolicy",
        "LogGroupKey",
    }  # their Conditions are false by default
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # moto warns (UserWarning) for each type it skips
        with emulated_account() as account:
            cfn = account.client("cloudformation")
            for plan in stack_plan():
                expected = set(load_template(plan.template_path)["Resources"]) - not_created
                resources = cfn.list_stack_resources(StackName=plan.stack_name)["StackResourceSummaries"]
                created = {r["LogicalResourceId"]: r for r in resources if r["LogicalResourceId"]}

                assert expected == set(created)
                assert all(
                    r["ResourceType"] and r["ResourceStatus"] == "CREATE_COMPLETE" for r in created.values()
                )


def test_account_writes_counts_metrics_alarm_states_and_targets(account: EmulatedAccount) -> None:
    """The control loop's writes land where boto3 readers (and the AWS CLI) see them."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    account.publish_service_status(
        ServiceStatus(running_count=1, pending_count=1, deployments=(), tasks=(), events=()), lambda _: at
    )
    account.set_desired_count(4)
    account.put_metric(
        cpu_metric_key(account.service),
        StatisticSet.of([50.0, 90.0]),
        datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC),
        "Percent",
    )
    account.set_alarm_state("fargate-chat-service-high-cpu", "ALARM", "test", {"recentDatapoints": [70.0]})
    target_group = account.service.target_group.target_group_arn
    account.publish_target_health(target_group, [("10.0.0.7", 3000, "healthy", None, "")])

    ecs = account.client("ecs").describe_services(cluster=account.cluster_name, services=["chat"])[
        "services"
    ][0]
    alarm = account.client("cloudwatch").describe_alarms(AlarmNames=["fargate-chat-service-high-cpu"])[
        "MetricAlarms"
    ][0]
    stats = account.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "cpu",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ECS",
                        "MetricName": "CPUUtilization",
                        "Dimensions": [
                            {"Name": "ClusterName", "Value": account.cluster_name},
                            {"Name": "ServiceName", "Value": "chat"},
                        ],
                    },
                    "Period": 60,
                    "Stat": "Average",
                },
            }
        ],
        StartTime=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        EndTime=datetime(2026, 1, 1, 12, 5, tzinfo=UTC),
    )["MetricDataResults"][0]
    health = account.client("elbv2").describe_target_health(
        TargetGroupArn=account.service.target_group.target_group_arn
    )["TargetHealthDescriptions"]

    assert (ecs["desiredCount"], ecs["runningCount"], ecs["pendingCount"]) == (4, 1, 1)
    assert account.read_service().desired_count == 4
    assert (
        alarm["StateValue"],
        json.loads(alarm["StateReasonData"])["recentDatapoints"],
    ) == ("ALARM", [70.0])
    assert stats["Values"] == [70.0]  # one datapoint, the average of 50 and 90
    assert [(t["Target"]["Id"], t["Target"]["Port"]) for t in health] == [("10.0.0.7", 3000)]

    account.publish_target_health(target_group, [])

    assert (
        account.client("elbv2").describe_target_health(
            TargetGroupArn=account.service.target_group.target_group_arn
        )["TargetHealthDescriptions"]
        == []
    )


def test_the_emulator_refuses_https_in_one_line_before_starting_moto() -> None:
    """The emulated load balancer serves plain HTTP on 127.0.0.1: CertificateArn is for a real deployment."""
    from emulator.aws import emulated_account
    from emulator.aws.exceptions import ParameterError

    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0123"
    with (
        pytest.raises(
            ParameterError, match=r"^CertificateArn: the emulator's load balancer serves plain HTTP"
        ),
        emulated_account(params={"CertificateArn": arn}),
    ):
        pass  # pragma: no cover

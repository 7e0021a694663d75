"""Read what is DEPLOYED into a typed `ServiceDescription` (moto or real AWS, through boto3 only).

Sources: ECS DescribeServices (desired count, deployment configuration with its circuit breaker, the PRIMARY
deployment's id and task definition) + DescribeTaskDefinition; ELBv2 DescribeTargetGroups +
DescribeTargetGroupAttributes; Application Auto Scaling DescribeScalableTargets + DescribeScalingPolicies;
CloudWatch DescribeAlarms (the alarms whose actions name one of the service's policies, or that watch the
service's AWS/ECS metrics). Never the template text: what the emulator runs is what AWS holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, cast

from emulator.aws.exceptions import ServiceNotFound
from emulator.aws.step_adjustments import step_adjustments_from_api
from emulator.model import (
    CustomizedMetric,
    DeploymentConfiguration,
    HealthCheck,
    MetricAlarm,
    ScalableTarget,
    ServiceDescription,
    StepScalingPolicy,
    TargetGroupSettings,
    TargetTrackingPolicy,
    TaskDefinition,
)


class ClientFactory(Protocol):
    """Anything with `client(service_name)`: an `EmulatedAccount`, a `boto3.Session`..."""

    def client(self, service_name: str) -> Any: ...


Clients = ClientFactory | Mapping[str, Any]


def _client(clients: Clients, name: str) -> Any:
    return clients[name] if isinstance(clients, Mapping) else clients.client(name)


def read_service(clients_or_account: Clients, cluster_name: str, service_name: str) -> ServiceDescription:
    """The deployed service, its target group, scalable target, policies and alarms."""
    ecs = _client(clients_or_account, "ecs")
    services = ecs.describe_services(cluster=cluster_name, services=[service_name]).get("services", [])
    live = [s for s in services if s.get("status") != "INACTIVE"]
    if not live:
        raise ServiceNotFound(f"no ECS service {service_name} in cluster {cluster_name}")
    svc = live[0]
    balancer = _load_balancer(svc, service_name)
    task_def = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    resource_id = f"service/{cluster_name}/{service_name}"
    scalable_target = _scalable_target(_client(clients_or_account, "application-autoscaling"), resource_id)
    policies = _policies(_client(clients_or_account, "application-autoscaling"), resource_id)
    deployment = svc.get("deploymentConfiguration") or {}
    breaker = deployment.get("deploymentCircuitBreaker") or {}
    return ServiceDescription(
        cluster_name=cluster_name,
        service_name=service_name,
        desired_count=int(svc["desiredCount"]),
        task_definition=_task_definition(task_def, balancer, str(svc["taskDefinition"])),
        target_group=_target_group(_client(clients_or_account, "elbv2"), balancer["targetGroupArn"]),
        deployment_configuration=DeploymentConfiguration(
            maximum_percent=int(deployment.get("maximumPercent", 200)),
            minimum_healthy_percent=int(deployment.get("minimumHealthyPercent", 100)),
            circuit_breaker_enable=bool(breaker.get("enable", False)),
            circuit_breaker_rollback=bool(breaker.get("rollback", False)),
        ),
        health_check_grace_period_seconds=int(svc.get("healthCheckGracePeriodSeconds") or 0),
        launch_type=str(svc.get("launchType") or "EC2"),
        service_arn=str(svc.get("serviceArn", "")),
        scalable_target=scalable_target,
        step_policies=tuple(p for p in policies if isinstance(p, StepScalingPolicy)),
        target_tracking_policies=tuple(p for p in policies if isinstance(p, TargetTrackingPolicy)),
        alarms=_alarms(_client(clients_or_account, "cloudwatch"), cluster_name, service_name, policies),
        primary_deployment_id=primary_deployment_id(svc),
    )


def primary_deployment_id(svc: Mapping[str, Any]) -> str:
    """DescribeServices' deployments[status=PRIMARY].id ("" when the service has none, e.g. EXTERNAL)."""
    return next((str(d["id"]) for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"), "")


def _load_balancer(svc: Mapping[str, Any], service_name: str) -> dict[str, Any]:
    balancers = [lb for lb in svc.get("loadBalancers", []) if lb.get("targetGroupArn")]
    if not balancers:
        raise ServiceNotFound(f"ECS service {service_name} has no target group (loadBalancers is empty)")
    return dict(balancers[0])


def _task_definition(td: Mapping[str, Any], balancer: Mapping[str, Any], arn: str) -> TaskDefinition:
    containers = td.get("containerDefinitions", [])
    named = [c for c in containers if c.get("name") == balancer.get("containerName")]
    container = (named or containers or [{}])[0]
    port = balancer.get("containerPort") or next(
        (m["containerPort"] for m in container.get("portMappings", []) if "containerPort" in m), 0
    )
    return TaskDefinition(
        family=str(td["family"]),
        cpu_units=int(td.get("cpu") or container.get("cpu") or 0),
        memory_mib=int(td.get("memory") or container.get("memory") or 0),
        container_port=int(port),
        network_mode=str(td.get("networkMode") or "bridge"),
        environment=tuple(
            (str(e["name"]), str(e.get("value", ""))) for e in container.get("environment", [])
        ),
        stop_timeout_seconds=int(container.get("stopTimeout") or 30),
        task_definition_arn=str(td.get("taskDefinitionArn") or arn),
    )


def _target_group(elbv2: Any, arn: str) -> TargetGroupSettings:
    group = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    attrs = {
        a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    }
    algorithm = attrs.get("load_balancing.algorithm.type", "round_robin")
    stickiness_type = attrs.get("stickiness.type", "lb_cookie")
    duration_key = f"stickiness.{stickiness_type}.duration_seconds"
    return TargetGroupSettings(
        target_group_arn=arn,
        port=int(group.get("Port", 0)),
        health_check=HealthCheck(
            path=str(group.get("HealthCheckPath", "/")),
            interval_seconds=int(group.get("HealthCheckIntervalSeconds", 30)),
            timeout_seconds=int(group.get("HealthCheckTimeoutSeconds", 5)),
            healthy_threshold_count=int(group.get("HealthyThresholdCount", 5)),
            unhealthy_threshold_count=int(group.get("UnhealthyThresholdCount", 2)),
            matcher=str((group.get("Matcher") or {}).get("HttpCode", "200")),
        ),
        stickiness_enabled=attrs.get("stickiness.enabled", "false").lower() == "true",
        stickiness_type="app_cookie" if stickiness_type == "app_cookie" else "lb_cookie",
        stickiness_duration_seconds=int(attrs.get(duration_key, 86400)),
        deregistration_delay_seconds=int(attrs.get("deregistration_delay.timeout_seconds", 300)),
        load_balancing_algorithm="least_outstanding_requests"
        if algorithm == "least_outstanding_requests"
        else "round_robin",
        slow_start_seconds=int(attrs.get("slow_start.duration_seconds", 0)),
    )


def _scalable_target(aas: Any, resource_id: str) -> ScalableTarget | None:
    targets = aas.describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[resource_id], ScalableDimension="ecs:service:DesiredCount"
    )["ScalableTargets"]
    exact = [t for t in targets if t["ResourceId"] == resource_id]
    if not exact:
        return None
    t = exact[0]
    suspended = t.get("SuspendedState") or {}
    return ScalableTarget(
        resource_id=resource_id,
        min_capacity=int(t["MinCapacity"]),
        max_capacity=int(t["MaxCapacity"]),
        dynamic_scaling_in_suspended=bool(suspended.get("DynamicScalingInSuspended", False)),
        dynamic_scaling_out_suspended=bool(suspended.get("DynamicScalingOutSuspended", False)),
        scheduled_scaling_suspended=bool(suspended.get("ScheduledScalingSuspended", False)),
    )


def _policies(aas: Any, resource_id: str) -> list[StepScalingPolicy | TargetTrackingPolicy]:
    raw = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource_id)["ScalingPolicies"]
    policies: list[StepScalingPolicy | TargetTrackingPolicy] = []
    for p in (p for p in raw if p["ResourceId"] == resource_id):
        if p["PolicyType"] == "StepScaling":
            policies.append(_step_policy(p))
        elif p["PolicyType"] == "TargetTrackingScaling":
            policies.append(_target_tracking_policy(p))
    return sorted(policies, key=lambda p: p.policy_name)


def _step_policy(p: Mapping[str, Any]) -> StepScalingPolicy:
    c = p["StepScalingPolicyConfiguration"]
    return StepScalingPolicy(
        policy_name=p["PolicyName"],
        policy_arn=p["PolicyARN"],
        adjustment_type=c["AdjustmentType"],
        step_adjustments=step_adjustments_from_api(c.get("StepAdjustments", [])),
        cooldown=int(c.get("Cooldown", 300)),
        metric_aggregation_type=c.get("MetricAggregationType", "Average"),
        min_adjustment_magnitude=c.get("MinAdjustmentMagnitude"),
    )


def _target_tracking_policy(p: Mapping[str, Any]) -> TargetTrackingPolicy:
    c = p["TargetTrackingScalingPolicyConfiguration"]
    metric = (c.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType", "Customized")
    custom = c.get("CustomizedMetricSpecification")
    return TargetTrackingPolicy(
        policy_name=p["PolicyName"],
        policy_arn=p["PolicyARN"],
        target_value=float(c["TargetValue"]),
        predefined_metric_type=str(metric),
        scale_out_cooldown=int(c.get("ScaleOutCooldown", 300)),
        scale_in_cooldown=int(c.get("ScaleInCooldown", 300)),
        disable_scale_in=bool(c.get("DisableScaleIn", False)),
        customized_metric=None if not custom else customized_metric(custom),
    )


def customized_metric(spec: Mapping[str, Any]) -> CustomizedMetric:
    """A CustomizedMetricSpecification as the API (or a template) writes it."""
    return CustomizedMetric(
        namespace=str(spec["Namespace"]),
        metric_name=str(spec["MetricName"]),
        dimensions=tuple((str(d["Name"]), str(d["Value"])) for d in spec.get("Dimensions", [])),
        statistic=cast(Any, spec.get("Statistic", "Average")),
        unit=spec.get("Unit"),
    )


def _alarms(
    cloudwatch: Any, cluster: str, service: str, policies: list[StepScalingPolicy | TargetTrackingPolicy]
) -> tuple[MetricAlarm, ...]:
    arns = tuple(p.policy_arn for p in policies)
    watched = {("ClusterName", cluster), ("ServiceName", service)}
    found: list[MetricAlarm] = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
        for a in page.get("MetricAlarms", []):
            dims = {(d["Name"], d["Value"]) for d in a.get("Dimensions", [])}
            acts_on_service = (
                any(action.startswith(arns) for action in a.get("AlarmActions", [])) if arns else False
            )
            if acts_on_service or (a.get("Namespace") == "AWS/ECS" and dims == watched):
                found.append(_alarm(a))
    return tuple(sorted(found, key=lambda a: a.alarm_name))


def _alarm(a: Mapping[str, Any]) -> MetricAlarm:
    datapoints = a.get("DatapointsToAlarm")
    return MetricAlarm(
        alarm_name=a["AlarmName"],
        namespace=str(a.get("Namespace", "")),
        metric_name=str(a.get("MetricName", "")),
        statistic=cast(Any, a.get("Statistic", "Average")),
        period=int(a.get("Period", 60)),
        evaluation_periods=int(a["EvaluationPeriods"]),
        threshold=float(a["Threshold"]),
        comparison_operator=a["ComparisonOperator"],
        dimensions=tuple((d["Name"], d["Value"]) for d in a.get("Dimensions", [])),
        datapoints_to_alarm=None if datapoints is None else int(datapoints),
        treat_missing_data=a.get("TreatMissingData") or "missing",
        alarm_actions=tuple(a.get("AlarmActions", [])),
        actions_enabled=bool(a.get("ActionsEnabled", True)),
    )

"""The seed's service, built by hand with the templates' defaults: one definition for every test folder."""

from __future__ import annotations

from emulator.model import (
    DeploymentConfiguration,
    MetricAlarm,
    ScalableTarget,
    ServiceDescription,
    StepAdjustment,
    StepScalingPolicy,
    TargetGroupSettings,
    TaskDefinition,
)

UP_ARN = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:u:resource/ecs/service/c/s:policyName/up"
DOWN_ARN = (
    "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:d:resource/ecs/service/c/s:policyName/down"
)
DIMENSIONS = (("ClusterName", "c"), ("ServiceName", "s"))


def cpu_alarm(name: str, threshold: float, operator: str, action: str, **kw: object) -> MetricAlarm:
    return MetricAlarm(
        alarm_name=name,
        namespace="AWS/ECS",
        metric_name="CPUUtilization",
        statistic="Average",
        period=60,
        evaluation_periods=1,
        threshold=threshold,
        comparison_operator=operator,  # type: ignore[arg-type]
        dimensions=DIMENSIONS,
        alarm_actions=(action,),
        **kw,  # type: ignore[arg-type]
    )


def build_seed_service() -> ServiceDescription:
    up = StepScalingPolicy(
        policy_name="ScaleUpPolicy",
        policy_arn=UP_ARN,
        adjustment_type="ChangeInCapacity",
        step_adjustments=(
            StepAdjustment(1, 0, 15),
            StepAdjustment(2, 15, 25),
            StepAdjustment(3, 25, None),
        ),
        cooldown=60,
    )
    down = StepScalingPolicy(
        policy_name="ScaleDownPolicy",
        policy_arn=DOWN_ARN,
        adjustment_type="ChangeInCapacity",
        step_adjustments=(StepAdjustment(-1, None, 0),),
        cooldown=60,
    )
    return ServiceDescription(
        cluster_name="c",
        service_name="s",
        desired_count=2,
        task_definition=TaskDefinition(family="chat", cpu_units=1024, memory_mib=2048, container_port=3000),
        target_group=TargetGroupSettings(target_group_arn="tg", port=3000, deregistration_delay_seconds=30),
        deployment_configuration=DeploymentConfiguration(maximum_percent=200, minimum_healthy_percent=75),
        scalable_target=ScalableTarget(resource_id="service/c/s", min_capacity=2, max_capacity=10),
        step_policies=(up, down),
        alarms=(
            cpu_alarm("high-cpu", 70, "GreaterThanOrEqualToThreshold", UP_ARN),
            cpu_alarm("low-cpu", 20, "LessThanOrEqualToThreshold", DOWN_ARN),
        ),
    )

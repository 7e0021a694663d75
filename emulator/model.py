"""The typed description of a deployed service: the contract between the rooms of the emulator.

`emulator.aws.reader` builds a `ServiceDescription` from the stacks deployed into moto (or real AWS);
`emulator.scaling`, `emulator.alb`, `emulator.cluster` and `emulator.sim` only ever read these inert,
frozen dataclasses. Field names use AWS's own words, in snake_case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AdjustmentType = Literal["ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"]
MetricAggregationType = Literal["Average", "Minimum", "Maximum"]
ComparisonOperator = Literal[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
]
TreatMissingData = Literal["missing", "ignore", "breaching", "notBreaching"]
Statistic = Literal["SampleCount", "Average", "Sum", "Minimum", "Maximum"]
AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


@dataclass(frozen=True)
class StepAdjustment:
    """One step of a step scaling policy; bounds are relative to the alarm threshold (None = infinite)."""

    scaling_adjustment: int
    metric_interval_lower_bound: float | None = None
    metric_interval_upper_bound: float | None = None


@dataclass(frozen=True)
class StepScalingPolicy:
    policy_name: str
    policy_arn: str
    adjustment_type: AdjustmentType
    step_adjustments: tuple[StepAdjustment, ...]
    cooldown: int = 300
    metric_aggregation_type: MetricAggregationType = "Average"
    min_adjustment_magnitude: int | None = None


@dataclass(frozen=True)
class CustomizedMetric:
    """A target tracking policy's CustomizedMetricSpecification: a CloudWatch metric the service publishes itself,
    whose value must change in proportion to its capacity (an average per task)."""

    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...] = ()
    statistic: Statistic = "Average"
    unit: str | None = None


@dataclass(frozen=True)
class TargetTrackingPolicy:
    policy_name: str
    policy_arn: str
    target_value: float
    predefined_metric_type: str = "ECSServiceAverageCPUUtilization"  # "Customized" with `customized_metric`
    scale_out_cooldown: int = 300
    scale_in_cooldown: int = 300
    disable_scale_in: bool = False
    customized_metric: CustomizedMetric | None = None


@dataclass(frozen=True)
class MetricAlarm:
    alarm_name: str
    namespace: str
    metric_name: str
    statistic: Statistic
    period: int
    evaluation_periods: int
    threshold: float
    comparison_operator: ComparisonOperator
    dimensions: tuple[tuple[str, str], ...] = ()
    datapoints_to_alarm: int | None = None
    treat_missing_data: TreatMissingData = "missing"
    alarm_actions: tuple[str, ...] = ()
    actions_enabled: bool = True


@dataclass(frozen=True)
class ScalableTarget:
    resource_id: str  # "service/<cluster>/<service>"
    min_capacity: int
    max_capacity: int
    service_namespace: str = "ecs"
    scalable_dimension: str = "ecs:service:DesiredCount"
    dynamic_scaling_in_suspended: bool = False
    dynamic_scaling_out_suspended: bool = False
    scheduled_scaling_suspended: bool = False


@dataclass(frozen=True)
class HealthCheck:
    path: str = "/"
    interval_seconds: int = 30
    timeout_seconds: int = 5
    healthy_threshold_count: int = 5
    unhealthy_threshold_count: int = 2
    matcher: str = "200"


@dataclass(frozen=True)
class TargetGroupSettings:
    target_group_arn: str
    port: int
    health_check: HealthCheck = field(default_factory=HealthCheck)
    stickiness_enabled: bool = False
    stickiness_type: Literal["lb_cookie", "app_cookie"] = "lb_cookie"
    stickiness_duration_seconds: int = 86400
    deregistration_delay_seconds: int = 300
    load_balancing_algorithm: Literal["round_robin", "least_outstanding_requests"] = "round_robin"
    slow_start_seconds: int = 0


@dataclass(frozen=True)
class DeploymentConfiguration:
    maximum_percent: int = 200
    minimum_healthy_percent: int = 100
    circuit_breaker_enable: bool = False  # deploymentCircuitBreaker.enable
    circuit_breaker_rollback: bool = False  # deploymentCircuitBreaker.rollback


@dataclass(frozen=True)
class TaskDefinition:
    family: str
    cpu_units: int  # 1024 = 1 vCPU
    memory_mib: int
    container_port: int
    network_mode: str = "awsvpc"
    environment: tuple[tuple[str, str], ...] = ()
    stop_timeout_seconds: int = 30
    task_definition_arn: str = ""  # the revision: arn:aws:ecs:<region>:<account>:task-definition/<family>:<n>

    @property
    def vcpu(self) -> float:
        return self.cpu_units / 1024


@dataclass(frozen=True)
class ServiceDescription:
    """Everything the emulator runs on, as deployed."""

    cluster_name: str
    service_name: str
    desired_count: int
    task_definition: TaskDefinition
    target_group: TargetGroupSettings
    deployment_configuration: DeploymentConfiguration = field(default_factory=DeploymentConfiguration)
    health_check_grace_period_seconds: int = 0
    launch_type: str = "FARGATE"
    service_arn: str = ""
    scalable_target: ScalableTarget | None = None
    step_policies: tuple[StepScalingPolicy, ...] = ()
    target_tracking_policies: tuple[TargetTrackingPolicy, ...] = ()
    alarms: tuple[MetricAlarm, ...] = ()
    primary_deployment_id: str = ""  # DescribeServices deployments[status=PRIMARY].id

    @property
    def resource_id(self) -> str:
        return f"service/{self.cluster_name}/{self.service_name}"

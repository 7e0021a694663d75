"""Application Auto Scaling: the CloudFormation types moto skips, and AWS's rules moto does not apply.

- AWS::ApplicationAutoScaling::ScalableTarget (Ref = "<ResourceId>|<ScalableDimension>|<ServiceNamespace>").
- `patch_backend()` wraps moto's RegisterScalableTarget, for the API and CloudFormation alike: it clamps the
  ECS service's desired count into [min, max] as AWS does (reference §2.7; moto does not, §6c); a
  SuspendedState left out keeps the stored one.
- AWS::ApplicationAutoScaling::ScalingPolicy (Ref = the policy ARN, kept across updates as AWS keeps it).
- `patch_backend()` also wraps moto's PutScalingPolicy, for the API and CloudFormation alike: step adjustments
  are validated (§2.3) with an error naming the policy, and a target-tracking policy's two alarms get AWS's
  thresholds and datapoints (AlarmHigh > target 3 of 3, AlarmLow < 0.9 x target 15 of 15; moto writes 6.0),
  and the metric of a CustomizedMetricSpecification (moto writes AWS/ECS CPUUtilization for every policy).
"""

from __future__ import annotations

import functools
from typing import Any

from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import (
    ApplicationAutoscalingBackend,
    FakeApplicationAutoscalingPolicy,
    FakeScalableTarget,
    applicationautoscaling_backends,
)
from moto.cloudwatch.models import Dimension
from moto.core.common_models import CloudFormationModel
from moto.ecs.models import ecs_backends

from emulator.aws._moto_ext.base import EmulatorModel, validation_error
from emulator.aws._moto_ext.cloudwatch import start_insufficient
from emulator.aws._moto_ext.ecs_deployments import set_desired_count
from emulator.aws.exceptions import StepAdjustmentError
from emulator.aws.step_adjustments import step_adjustments_from_api, validate_step_adjustments

SCALE_IN_RATIO = 0.9  # AlarmLow = 0.9 x target for ECS (reference §3.2)


def backend(account_id: str, region_name: str) -> ApplicationAutoscalingBackend:
    aas: ApplicationAutoscalingBackend = applicationautoscaling_backends[account_id][region_name]
    return aas


def patch_backend() -> None:
    """Make moto's PutScalingPolicy validate step adjustments and fix target tracking's alarms, and its
    RegisterScalableTarget clamp the desired count (idempotent)."""
    original = ApplicationAutoscalingBackend.put_scaling_policy
    if getattr(original, "_emulator_patched", False):
        return
    original_register = ApplicationAutoscalingBackend.register_scalable_target

    @functools.wraps(original_register)
    def register_scalable_target(
        self: ApplicationAutoscalingBackend,
        namespace: str,
        r_id: str,
        dimension: str,
        *args: Any,
        **kwargs: Any,
    ) -> FakeScalableTarget:
        target: FakeScalableTarget = original_register(self, namespace, r_id, dimension, *args, **kwargs)
        if namespace == "ecs" and target.min_capacity is not None and target.max_capacity is not None:
            clamp_desired_count(
                r_id, target.min_capacity, target.max_capacity, self.account_id, self.region_name
            )
        return target

    ApplicationAutoscalingBackend.register_scalable_target = register_scalable_target  # type: ignore[method-assign]

    @functools.wraps(original)
    def put_scaling_policy(
        self: ApplicationAutoscalingBackend,
        policy_name: str,
        service_namespace: str,
        resource_id: str,
        scalable_dimension: str,
        policy_body: dict[str, Any],
        policy_type: str | None,
    ) -> FakeApplicationAutoscalingPolicy:
        if policy_type == "StepScaling":
            try:
                steps = step_adjustments_from_api(policy_body.get("StepAdjustments", []))
                validate_step_adjustments(policy_name, steps)
            except StepAdjustmentError as exc:
                raise AWSValidationException(str(exc)) from exc
        policy = original(
            self, policy_name, service_namespace, resource_id, scalable_dimension, policy_body, policy_type
        )
        fix_target_tracking_alarms(policy)
        return policy

    put_scaling_policy._emulator_patched = True  # type: ignore[attr-defined]
    ApplicationAutoscalingBackend.put_scaling_policy = put_scaling_policy  # type: ignore[method-assign]


def fix_target_tracking_alarms(policy: FakeApplicationAutoscalingPolicy) -> None:
    config = policy.target_tracking_scaling_policy_configuration
    if policy.policy_type != "TargetTrackingScaling" or not config:
        return
    target = float(config["TargetValue"])
    custom = config.get("CustomizedMetricSpecification")
    for alarm in policy.alarms:
        high = "-AlarmHigh-" in alarm.name
        if custom:  # moto writes AWS/ECS CPUUtilization whatever the policy tracks
            alarm.namespace, alarm.metric_name = custom["Namespace"], custom["MetricName"]
            alarm.dimensions = [Dimension(d["Name"], d["Value"]) for d in custom.get("Dimensions", [])]
            alarm.statistic, alarm.unit = custom.get("Statistic", "Average"), custom.get("Unit")
        alarm.threshold = target if high else round(SCALE_IN_RATIO * target, 6)
        alarm.datapoints_to_alarm = alarm.evaluation_periods  # 3 of 3, 15 of 15
        start_insufficient(alarm)


class CfnScalableTarget(EmulatorModel, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApplicationAutoScaling::ScalableTarget"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> CfnScalableTarget:
        p = cloudformation_json["Properties"]
        namespace, resource_id, dimension = p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"]
        low, high = int(p["MinCapacity"]), int(p["MaxCapacity"])
        if low > high:
            raise validation_error(f"ScalableTarget {resource_id}: MinCapacity {low} > MaxCapacity {high}")
        suspended = {k: str(v).lower() == "true" for k, v in p.get("SuspendedState", {}).items()}
        backend(account_id, region_name).register_scalable_target(
            namespace,
            resource_id,
            dimension,
            low,
            high,
            p.get("RoleARN", ""),
            suspended or None,  # type: ignore[arg-type]
        )
        return cls(f"{resource_id}|{dimension}|{namespace}", account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: CfnScalableTarget,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CfnScalableTarget:
        new = cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )
        if new.physical_resource_id != original_resource.physical_resource_id:
            original_resource.delete(account_id, region_name)
        return new

    def delete(self, account_id: str, region_name: str) -> None:
        resource_id, dimension, namespace = self.physical_resource_id.split("|")
        aas = backend(account_id, region_name)
        if resource_id in aas.targets.get(dimension, {}):
            aas.deregister_scalable_target(namespace, resource_id, dimension)


def clamp_desired_count(resource_id: str, low: int, high: int, account_id: str, region_name: str) -> None:
    """RegisterScalableTarget moves the service's current capacity into [min, max] (reference §2.7)."""
    _, cluster, service_name = resource_id.split("/")
    service = ecs_backends[account_id][region_name].services.get(f"{cluster}:{service_name}")
    if service is not None:
        set_desired_count(service, min(max(service.desired_count, low), high))


class CfnScalingPolicy(EmulatorModel, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApplicationAutoScaling::ScalingPolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "PolicyName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return (
            self.physical_resource_id
            if attribute_name == "Arn"
            else super().get_cfn_attribute(attribute_name)
        )

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> CfnScalingPolicy:
        policy = _put_policy(resource_name, cloudformation_json["Properties"], account_id, region_name)
        model = cls(policy.policy_arn, account_id, region_name)
        model.key = _key(policy)
        return model

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: CfnScalingPolicy,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CfnScalingPolicy:
        original_resource.delete(account_id, region_name)
        new = cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )
        if new.key == original_resource.key:  # same policy, updated in place: AWS keeps its ARN
            _keep_arn(
                backend(account_id, region_name).policies[new.key], original_resource.physical_resource_id
            )
            new._physical_id = original_resource.physical_resource_id
        return new

    def delete(self, account_id: str, region_name: str) -> None:
        aas = backend(account_id, region_name)
        if self.key in aas.policies:
            policy = aas.policies[self.key]
            aas.delete_scaling_policy(
                policy.policy_name, policy.service_namespace, policy.resource_id, policy.scalable_dimension
            )

    key: str = ""


def _key(policy: FakeApplicationAutoscalingPolicy) -> str:
    key: str = FakeApplicationAutoscalingPolicy.formulate_key(
        policy.service_namespace, policy.resource_id, policy.scalable_dimension, policy.policy_name
    )
    return key


def _keep_arn(policy: FakeApplicationAutoscalingPolicy, arn: str) -> None:
    new_arn = policy.policy_arn
    policy.policy_arn = arn
    for alarm in policy.alarms:
        alarm.alarm_actions = [action.replace(new_arn, arn) for action in alarm.alarm_actions]


def _put_policy(
    name: str, p: dict[str, Any], account_id: str, region_name: str
) -> FakeApplicationAutoscalingPolicy:
    if "ScalingTargetId" in p:
        resource_id, dimension, namespace = str(p["ScalingTargetId"]).split("|")
    else:
        resource_id, dimension, namespace = p["ResourceId"], p["ScalableDimension"], p["ServiceNamespace"]
    policy_type = p["PolicyType"]
    if policy_type == "StepScaling":
        body = _step_body(p.get("StepScalingPolicyConfiguration", {}))
    else:
        body = _target_tracking_body(p.get("TargetTrackingScalingPolicyConfiguration", {}))
    try:
        policy: FakeApplicationAutoscalingPolicy = backend(account_id, region_name).put_scaling_policy(
            name, namespace, resource_id, dimension, body, policy_type
        )
    except AWSValidationException as exc:
        raise validation_error(exc.message) from exc
    return policy


def _step_body(c: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {k: c[k] for k in ("AdjustmentType", "MetricAggregationType") if k in c}
    body.update({k: int(c[k]) for k in ("Cooldown", "MinAdjustmentMagnitude") if k in c})
    body["StepAdjustments"] = [
        {
            "ScalingAdjustment": int(step["ScalingAdjustment"]),
            **{
                k: float(step[k])
                for k in ("MetricIntervalLowerBound", "MetricIntervalUpperBound")
                if k in step
            },
        }
        for step in c.get("StepAdjustments", [])
    ]
    return body


def _target_tracking_body(c: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        k: c[k] for k in ("PredefinedMetricSpecification", "CustomizedMetricSpecification") if k in c
    }
    body["TargetValue"] = float(c["TargetValue"])
    body.update({k: int(c[k]) for k in ("ScaleOutCooldown", "ScaleInCooldown") if k in c})
    if "DisableScaleIn" in c:
        body["DisableScaleIn"] = str(c["DisableScaleIn"]).lower() == "true"
    return body

"""AWS::ElasticLoadBalancingV2::TargetGroup with its TargetGroupAttributes (moto ignores them, §6a).

Creation and health checks go through moto's own model; the attributes (stickiness, deregistration
delay, algorithm, slow start) are then applied with ModifyTargetGroupAttributes, and again on update
together with the health-check settings. Ref = the target group ARN, as AWS.
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.elbv2.models import ELBv2Backend, FakeTargetGroup, elbv2_backends

_HEALTH_CHECK = {
    "HealthCheckProtocol": "health_check_proto",
    "HealthCheckPort": "health_check_port",
    "HealthCheckPath": "health_check_path",
    "HealthCheckIntervalSeconds": "health_check_interval",
    "HealthCheckTimeoutSeconds": "health_check_timeout",
    "HealthyThresholdCount": "healthy_threshold_count",
    "UnhealthyThresholdCount": "unhealthy_threshold_count",
}


def backend(account_id: str, region_name: str) -> ELBv2Backend:
    elbv2: ELBv2Backend = elbv2_backends[account_id][region_name]
    return elbv2


class CfnTargetGroup(CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElasticLoadBalancingV2::TargetGroup"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return FakeTargetGroup.has_cfn_attr(attr)

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kw: Any,
    ) -> FakeTargetGroup:
        target_group: FakeTargetGroup = FakeTargetGroup.create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kw
        )
        _apply_attributes(target_group, cloudformation_json["Properties"], account_id, region_name)
        return target_group

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: FakeTargetGroup,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> FakeTargetGroup:
        p = cloudformation_json["Properties"]
        health: dict[str, Any] = {
            arg: str(p[key]) if key == "HealthCheckPort" else p[key]
            for key, arg in _HEALTH_CHECK.items()
            if key in p
        }
        for arg in ("health_check_interval", "health_check_timeout"):
            if arg in health:
                health[arg] = int(health[arg])
        matcher = p.get("Matcher")
        elbv2 = backend(account_id, region_name)
        target_group: FakeTargetGroup = elbv2.modify_target_group(
            original_resource.arn, http_codes=matcher.get("HttpCode") if matcher else None, **health
        )
        _apply_attributes(target_group, p, account_id, region_name)
        return target_group

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        backend(account_id, region_name).delete_target_group(resource_name)


def _apply_attributes(
    target_group: FakeTargetGroup, p: dict[str, Any], account_id: str, region_name: str
) -> None:
    attributes = {a["Key"]: str(a["Value"]) for a in p.get("TargetGroupAttributes", [])}
    if attributes:
        backend(account_id, region_name).modify_target_group_attributes(target_group.arn, attributes)

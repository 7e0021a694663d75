"""Custom moto CloudFormation models and API answers for what moto 5.2.5 skips, loses or gets wrong (§6).

Why this exists: moto builds its `type -> model` map from `CloudFormationModel.__subclasses__()` (cached
with `lru_cache`) and a later subclass wins, so defining these classes and clearing the caches makes
`create_stack` / `update_stack` go through them, in-process (`mock_aws`) and in `ThreadedMotoServer`
alike (the server runs in this process). Each model calls moto's own backend so that every boto3
`describe_*` call answers what AWS would.

- `ecs`          AWS::ECS::TaskDefinition (cpu, memory, network mode, compatibilities, roles, secrets) and
                 AWS::ECS::Service (launch type, load balancers, network and deployment configuration)
- `elbv2`        AWS::ElasticLoadBalancingV2::TargetGroup with its TargetGroupAttributes
- `cloudwatch`   AWS::CloudWatch::Alarm: starts INSUFFICIENT_DATA, keeps its state on update
- `autoscaling`  AWS::ApplicationAutoScaling::ScalableTarget / ScalingPolicy: step adjustments validated as
                 AWS does; target tracking's alarms get AWS's thresholds (target, 0.9 x target)
- `elasticache`  AWS::ElastiCache::SubnetGroup / CacheCluster / ReplicationGroup: endpoints resolve to the
                 emulator's Redis (`endpoints.set_redis_endpoint`)

API answers from the emulator's truth (the control loop writes the backends directly, under one lock):

- `dispatch`                every request under `dispatch.LOCK`; `api_changes()` counts the mutating ones
- `ecs_deployments`         UpdateService / CreateService keep ECS's deployments (PRIMARY/ACTIVE, new ids,
                            counts unchanged); the scheduler's published counts, deployments, events, rollback
- `ecs_tasks`               ListTasks / DescribeTasks answer the published tasks
- `elbv2_health`            DescribeTargetHealth answers the published target health in AWS's codes
- `autoscaling_activities`  DescribeScalingActivities (moto has none)
- `cloudwatch_history`      DescribeAlarmHistory; SetAlarmState / PutMetricAlarm keep history and AWS's states
"""

from __future__ import annotations

import importlib

from emulator.aws._moto_ext.endpoints import redis_endpoint, set_redis_endpoint

__all__ = ["install", "redis_endpoint", "set_redis_endpoint"]

_MODULES = ("ecs", "elbv2", "cloudwatch", "autoscaling", "elasticache")


def install() -> None:
    """Register the custom models with moto's CloudFormation parser (idempotent)."""
    from moto.cloudformation import parsing

    for name in _MODULES:
        importlib.import_module(f"{__name__}.{name}")
    from emulator.aws._moto_ext import (
        autoscaling,
        autoscaling_activities,
        cloudwatch_history,
        dispatch,
        ecs_deployments,
        ecs_tasks,
        elbv2_health,
    )

    dispatch.patch()
    autoscaling.patch_backend()
    autoscaling_activities.patch_responses()
    cloudwatch_history.patch()
    ecs_deployments.patch_backend()
    ecs_tasks.patch_responses()
    elbv2_health.patch_responses()
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()

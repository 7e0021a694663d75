"""The custom moto models apply AWS's rules to API calls too, not only to CloudFormation."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from emulator.aws import EmulatedAccount


def test_put_scaling_policy_rejects_overlapping_steps_naming_the_policy(deployed: EmulatedAccount) -> None:
    """moto accepted anything; AWS (and now moto) answers a ValidationException."""
    aas = deployed.client("application-autoscaling")

    with pytest.raises(ClientError) as caught:
        aas.put_scaling_policy(
            PolicyName="bad-steps",
            ServiceNamespace="ecs",
            ResourceId=deployed.service.resource_id,
            ScalableDimension="ecs:service:DesiredCount",
            PolicyType="StepScaling",
            StepScalingPolicyConfiguration={
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [
                    {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1},
                    {"MetricIntervalLowerBound": 10, "ScalingAdjustment": 2},
                ],
            },
        )

    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "bad-steps" in caught.value.response["Error"]["Message"]


def test_api_target_tracking_policy_gets_awss_thresholds(deployed: EmulatedAccount) -> None:
    """PutScalingPolicy(TargetTrackingScaling, 40): AlarmHigh at 40, AlarmLow at 36 (moto wrote 6.0)."""
    aas = deployed.client("application-autoscaling")
    aas.put_scaling_policy(
        PolicyName="tt",
        ServiceNamespace="ecs",
        ResourceId=deployed.service.resource_id,
        ScalableDimension="ecs:service:DesiredCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 40.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        },
    )
    alarms = deployed.client("cloudwatch").describe_alarms(AlarmNamePrefix="TargetTracking-")["MetricAlarms"]

    assert sorted((a["Threshold"], a.get("DatapointsToAlarm")) for a in alarms) == [(36.0, 15), (40.0, 3)]


def test_lowering_max_capacity_clamps_the_desired_count(account: EmulatedAccount) -> None:
    """RegisterScalableTarget moves the current capacity into [min, max], as AWS does."""
    account.set_desired_count(9)

    after = account.update({"MaxCapacity": 5})

    assert after.desired_count == 5
    assert account.read_service().desired_count == 5

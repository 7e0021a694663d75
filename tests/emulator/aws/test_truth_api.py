"""ELBv2, Application Auto Scaling and CloudWatch through boto3 answer what the emulator wrote (no HTTP 500).

Target health in AWS's codes, scaling activities worded as AWS words them, RegisterScalableTarget clamping the
desired count, alarm history for the loop's and the user's state changes, a user's SetAlarmState reported once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from emulator.aws import EmulatedAccount

HIGH = "fargate-chat-service-high-cpu"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def health(account: EmulatedAccount, **query: Any) -> list[tuple[Any, ...]]:
    answer = account.client("elbv2").describe_target_health(
        TargetGroupArn=account.read_service().target_group.target_group_arn, **query
    )["TargetHealthDescriptions"]
    return [
        (
            d["Target"]["Id"],
            d["Target"]["Port"],
            d["TargetHealth"]["State"],
            d["TargetHealth"].get("Reason"),
            d["TargetHealth"].get("Description"),
            d.get("HealthCheckPort"),
        )
        for d in answer
    ]


def test_describe_target_health_answers_the_published_states_in_awss_codes(either: EmulatedAccount) -> None:
    either.publish_target_health(
        either.read_service().target_group.target_group_arn,
        [
            ("10.0.0.1", 3000, "initial", "Elb.RegistrationInProgress", ""),
            ("10.0.0.2", 3000, "healthy", None, ""),
            ("10.0.0.3", 3000, "unhealthy", "Target.Timeout", "Request timed out"),
            ("10.0.0.4", 3000, "draining", "Target.DeregistrationInProgress", ""),
        ],
    )

    assert health(either) == [
        (
            "10.0.0.1",
            3000,
            "initial",
            "Elb.RegistrationInProgress",
            "Target registration is in progress",
            "3000",
        ),
        ("10.0.0.2", 3000, "healthy", None, None, "3000"),
        ("10.0.0.3", 3000, "unhealthy", "Target.Timeout", "Request timed out", "3000"),
        (
            "10.0.0.4",
            3000,
            "draining",
            "Target.DeregistrationInProgress",
            "Target deregistration is in progress",
            "3000",
        ),
    ]
    assert health(either, Targets=[{"Id": "10.0.0.9", "Port": 3000}, {"Id": "10.0.0.2"}]) == [
        (
            "10.0.0.9",
            3000,
            "unused",
            "Target.NotRegistered",
            "Target is not registered to the target group",
            None,
        ),
        ("10.0.0.2", 3000, "healthy", None, None, "3000"),
    ]


def test_describe_scaling_activities_answers_the_loops_activities_newest_first(
    either: EmulatedAccount,
) -> None:
    """moto raised NotImplementedError (HTTP 500); AWS's wording, filters and paging."""
    either.record_scaling_activity("scale-up", HIGH, 2, 3, T0)
    either.record_scaling_activity("scale-up", HIGH, 3, 5, T0.replace(minute=2))
    aas = either.client("application-autoscaling")
    resource_id = either.read_service().resource_id

    first = aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=resource_id, MaxResults=1)
    second = aas.describe_scaling_activities(
        ServiceNamespace="ecs", ResourceId=resource_id, NextToken=first["NextToken"]
    )
    other = aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId="service/other/svc")

    newest = first["ScalingActivities"][0]
    assert (newest["Description"], newest["Cause"]) == (
        "Setting desired count to 5.",
        f"monitor alarm {HIGH} in state ALARM triggered policy scale-up",
    )
    assert (newest["StatusCode"], newest["StatusMessage"]) == (
        "Successful",
        "Successfully set desired count to 5. Change successfully fulfilled by ecs.",
    )
    assert (newest["ServiceNamespace"], newest["ResourceId"], newest["ScalableDimension"]) == (
        "ecs",
        resource_id,
        "ecs:service:DesiredCount",
    )
    assert newest["StartTime"] == T0.replace(minute=2) and newest["EndTime"] >= newest["StartTime"]
    assert [a["Description"] for a in second["ScalingActivities"]] == ["Setting desired count to 3."]
    assert "NextToken" not in second
    assert other["ScalingActivities"] == []


def test_register_scalable_target_clamps_the_desired_count_and_keeps_suspended_state(
    account: EmulatedAccount,
) -> None:
    """Through the API as through CloudFormation: the current capacity moves into [min, max] (AWS)."""
    aas = account.client("application-autoscaling")
    resource_id = account.read_service().resource_id
    target = {
        "ServiceNamespace": "ecs",
        "ResourceId": resource_id,
        "ScalableDimension": "ecs:service:DesiredCount",
    }
    aas.register_scalable_target(**target, SuspendedState={"DynamicScalingInSuspended": True})

    aas.register_scalable_target(**target, MinCapacity=3, MaxCapacity=10)
    raised = account.read_service()
    aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2)
    lowered = account.read_service()

    assert (raised.desired_count, raised.scalable_target and raised.scalable_target.min_capacity) == (3, 3)
    assert lowered.desired_count == 2
    assert lowered.scalable_target is not None and lowered.scalable_target.dynamic_scaling_in_suspended
    assert account.read_service().desired_count == 2


def history(account: EmulatedAccount, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = account.client("cloudwatch").describe_alarm_history(**query)[
        "AlarmHistoryItems"
    ]
    return items


def test_a_users_set_alarm_state_is_reported_once_and_in_the_history(either: EmulatedAccount) -> None:
    cloudwatch = either.client("cloudwatch")
    data = {"version": "1.0", "recentDatapoints": [95.0], "threshold": 70.0}

    cloudwatch.set_alarm_state(
        AlarmName=HIGH, StateValue="ALARM", StateReason="testing the policy", StateReasonData=json.dumps(data)
    )
    first, second = either.take_alarm_overrides(), either.take_alarm_overrides()
    item = history(either, AlarmName=HIGH, HistoryItemType="StateUpdate")[0]
    alarm = cloudwatch.describe_alarms(AlarmNames=[HIGH])["MetricAlarms"][0]

    assert (first, second) == ({HIGH: "ALARM"}, {})
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "testing the policy")
    assert item["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    assert json.loads(item["HistoryData"])["newState"] == {
        "stateValue": "ALARM",
        "stateReason": "testing the policy",
        "stateReasonData": data,
    }


def test_the_loops_alarm_states_are_history_but_no_override(either: EmulatedAccount) -> None:
    """CloudWatch's own evaluation: state, reason, JSON reason data, timestamp; history only on a change."""
    data = {"version": "1.0", "queryDate": "2026-01-01T12:01:00.000+0000", "recentDatapoints": [80.0]}
    reason = "Threshold Crossed: 1 datapoint [80.0 (01/01/26 12:00:00)] was greater than or equal to the threshold (70.0)."

    either.set_alarm_state(HIGH, "ALARM", reason, data, T0.replace(minute=1))
    either.set_alarm_state(HIGH, "ALARM", reason, data, T0.replace(minute=2))  # no change: no history item
    either.set_alarm_state(HIGH, "OK", "Threshold Crossed: back", {"version": "1.0"}, T0.replace(minute=3))
    alarm = either.client("cloudwatch").describe_alarms(AlarmNames=[HIGH])["MetricAlarms"][0]
    updates = history(either, AlarmName=HIGH, HistoryItemType="StateUpdate")
    oldest_first = history(either, AlarmName=HIGH, HistoryItemType="StateUpdate", ScanBy="TimestampAscending")
    window = history(either, AlarmName=HIGH, StartDate=T0.replace(minute=2), EndDate=T0.replace(minute=4))

    assert either.take_alarm_overrides() == {}
    assert (alarm["StateValue"], alarm["StateUpdatedTimestamp"]) == ("OK", T0.replace(minute=3))
    assert [(i["HistorySummary"], i["Timestamp"]) for i in updates] == [
        ("Alarm updated from ALARM to OK", T0.replace(minute=3)),
        ("Alarm updated from INSUFFICIENT_DATA to ALARM", T0.replace(minute=1)),
    ]
    assert [i["Timestamp"] for i in oldest_first] == [T0.replace(minute=1), T0.replace(minute=3)]
    assert [i["HistorySummary"] for i in window] == ["Alarm updated from ALARM to OK"]
    assert json.loads(updates[1]["HistoryData"])["newState"]["stateReasonData"] == data


def test_put_metric_alarm_is_a_configuration_update_and_keeps_the_state(account: EmulatedAccount) -> None:
    cloudwatch = account.client("cloudwatch")
    alarm = cloudwatch.describe_alarms(AlarmNames=[HIGH])["MetricAlarms"][0]
    account.set_alarm_state(HIGH, "ALARM", "breach", {"version": "1.0"}, T0)
    keys = (
        "AlarmName",
        "Namespace",
        "MetricName",
        "Statistic",
        "Period",
        "EvaluationPeriods",
        "ComparisonOperator",
    )

    cloudwatch.put_metric_alarm(
        **{k: alarm[k] for k in keys},
        Threshold=80.0,
        Dimensions=alarm["Dimensions"],
        AlarmActions=alarm["AlarmActions"],
    )
    updated = cloudwatch.describe_alarms(AlarmNames=[HIGH])["MetricAlarms"][0]
    configuration = history(account, AlarmName=HIGH, HistoryItemType="ConfigurationUpdate")

    assert (updated["Threshold"], updated["StateValue"]) == (
        80.0,
        "ALARM",
    )  # AWS keeps the state; moto reset it
    assert [i["HistorySummary"] for i in configuration] == [
        f'Alarm "{HIGH}" updated',
        f'Alarm "{HIGH}" created',
    ]
    assert json.loads(configuration[0]["HistoryData"])["updatedAlarm"]["threshold"] == 80.0
    assert account.read_service().alarms[0].threshold == 80.0

"""AWS::CloudWatch::Alarm, which moto skips: stored in moto's CloudWatch backend with AWS's state rules.

AWS (PutMetricAlarm): a new alarm starts in INSUFFICIENT_DATA; updating an alarm keeps its state and
replaces its configuration. moto starts alarms in OK and resets the state on every put (reference §6b).
"""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.models import Alarm, CloudWatchBackend, cloudwatch_backends
from moto.core.common_models import CloudFormationModel

from emulator.aws._moto_ext.base import EmulatorModel

INITIAL_REASON = "Unchecked: Initial alarm creation"


def backend(account_id: str, region_name: str) -> CloudWatchBackend:
    cw: CloudWatchBackend = cloudwatch_backends[account_id][region_name]
    return cw


def start_insufficient(alarm: Alarm) -> None:
    """Put a freshly created alarm in INSUFFICIENT_DATA, as AWS does."""
    alarm.state_value = "INSUFFICIENT_DATA"
    alarm.state_reason = INITIAL_REASON
    alarm.state_reason_data = "{}"


class CfnMetricAlarm(EmulatorModel, CloudFormationModel):
    """Ref = the alarm name; GetAtt Arn = its ARN."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return backend(self.account_id, self.region_name).alarms[self.physical_resource_id].alarm_arn
        return super().get_cfn_attribute(attribute_name)

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> CfnMetricAlarm:
        alarm = _put_alarm(resource_name, cloudformation_json["Properties"], account_id, region_name)
        start_insufficient(alarm)
        return cls(resource_name, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: CfnMetricAlarm,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CfnMetricAlarm:
        cw = backend(account_id, region_name)
        old = cw.alarms.get(original_resource.physical_resource_id)
        if old is None or new_resource_name != old.name:
            # A new AlarmName means a replacement: a new alarm, in INSUFFICIENT_DATA.
            cw.delete_alarms([original_resource.physical_resource_id])
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        kept = (old.state_value, old.state_reason, old.state_reason_data, old.state_updated_timestamp)
        alarm = _put_alarm(new_resource_name, cloudformation_json["Properties"], account_id, region_name)
        alarm.state_value, alarm.state_reason, alarm.state_reason_data, alarm.state_updated_timestamp = kept
        alarm.history = old.history
        return cls(new_resource_name, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        backend(account_id, region_name).delete_alarms([resource_name])

    def delete(self, account_id: str, region_name: str) -> None:
        backend(account_id, region_name).delete_alarms([self.physical_resource_id])


def _put_alarm(name: str, props: dict[str, Any], account_id: str, region_name: str) -> Alarm:
    datapoints = props.get("DatapointsToAlarm")
    actions_enabled = props.get("ActionsEnabled", True)
    alarm: Alarm = backend(account_id, region_name).put_metric_alarm(
        name=name,
        namespace=props.get("Namespace", ""),
        metric_name=props.get("MetricName", ""),
        comparison_operator=props["ComparisonOperator"],
        evaluation_periods=int(props["EvaluationPeriods"]),
        period=int(props.get("Period", 60)),
        threshold=float(props["Threshold"]),
        statistic=props.get("Statistic", ""),
        extended_statistic=props.get("ExtendedStatistic"),
        description=props.get("AlarmDescription", ""),
        dimensions=[{"Name": d["Name"], "Value": str(d["Value"])} for d in props.get("Dimensions", [])],
        alarm_actions=[str(a) for a in props.get("AlarmActions", [])],
        ok_actions=[str(a) for a in props.get("OKActions", [])],
        insufficient_data_actions=[str(a) for a in props.get("InsufficientDataActions", [])],
        datapoints_to_alarm=None if datapoints is None else int(datapoints),
        unit=props.get("Unit"),
        actions_enabled=str(actions_enabled).lower() == "true",
        treat_missing_data=props.get("TreatMissingData"),
    )
    return alarm

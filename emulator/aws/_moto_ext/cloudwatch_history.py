"""CloudWatch alarm history and state writes as AWS keeps them (moto 5.2.5 lacks DescribeAlarmHistory, §6b).

AWS rules (CloudWatch API reference, DescribeAlarmHistory / SetAlarmState / PutMetricAlarm / AlarmHistoryItem;
reference §1.2, §1.12):
- Every state change is a StateUpdate item: HistorySummary "Alarm updated from OK to ALARM", HistoryData the JSON
  {"version": "1.0", "oldState": {...}, "newState": {...}} with stateValue, stateReason and stateReasonData.
  The state is written by CloudWatch's own evaluation (`apply_state`, the control loop) or by a user's
  SetAlarmState (the API), which is temporary: the alarm returns to its real state at the next evaluation.
  Each user SetAlarmState is also reported once by `take_overrides` (the loop runs the alarm's actions on it).
- PutMetricAlarm is a ConfigurationUpdate item ('Alarm "<name>" created' / 'Alarm "<name>" updated'); a new
  alarm starts in INSUFFICIENT_DATA and an updated one keeps its state (moto resets it to OK).
- DescribeAlarmHistory filters by AlarmName, AlarmTypes, HistoryItemType, StartDate and EndDate; newest first
  unless ScanBy is TimestampAscending; MaxRecords (default 100) with NextToken paging.

History and overrides live on moto's CloudWatchBackend (a moto reset drops them), under `dispatch.LOCK`.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import Alarm, CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from emulator.aws._moto_ext.base import kept_on
from emulator.aws._moto_ext.cloudwatch import start_insufficient

MAX_HISTORY_ITEMS = 10_000  # about a week of an alarm changing state every minute
_HISTORY, _OVERRIDES = "emulator_alarm_history", "emulator_alarm_overrides"
DEFAULT_MAX_RECORDS = 100


def history(backend: CloudWatchBackend) -> list[dict[str, Any]]:
    """Every history item, oldest first."""
    items: list[dict[str, Any]] = kept_on(backend, _HISTORY, list)
    return items


def take_overrides(backend: CloudWatchBackend) -> dict[str, str]:
    """{alarm name: state} of the users' SetAlarmState calls since the last call."""
    overrides: dict[str, str] = kept_on(backend, _OVERRIDES, dict)
    setattr(backend, _OVERRIDES, {})
    return overrides


def apply_state(
    backend: CloudWatchBackend,
    alarm_name: str,
    state: str,
    reason: str,
    reason_data: str,
    timestamp: datetime,
) -> None:
    """CloudWatch's evaluation result; a history item when the state changes. An alarm gone meanwhile: nothing."""
    alarm = backend.alarms.get(alarm_name)
    if alarm is not None:
        _set_state(backend, alarm, state, reason, reason_data, _aware(timestamp))


def _set_state(
    backend: CloudWatchBackend, alarm: Alarm, state: str, reason: str, reason_data: str, timestamp: datetime
) -> None:
    old = (alarm.state_value, alarm.state_reason, alarm.state_reason_data)
    alarm.state_value, alarm.state_reason, alarm.state_reason_data = state, reason, reason_data
    alarm.state_updated_timestamp = timestamp
    if old[0] != state:
        setattr(alarm, "state_transitioned_timestamp", timestamp)  # noqa: B010 (moto has none; AWS does)
        data = {"version": "1.0", "oldState": _state(*old), "newState": _state(state, reason, reason_data)}
        _add(backend, alarm.name, timestamp, "StateUpdate", f"Alarm updated from {old[0]} to {state}", data)


def _state(value: str, reason: str, reason_data: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {"stateValue": value, "stateReason": reason}
    try:
        parsed = json.loads(reason_data) if reason_data else None
    except ValueError:
        parsed = None
    if parsed:
        state["stateReasonData"] = parsed
    return state


def _add(
    backend: CloudWatchBackend, name: str, timestamp: datetime, kind: str, summary: str, data: dict[str, Any]
) -> None:
    items = history(backend)
    items.append(
        {
            "AlarmName": name,
            "AlarmType": "MetricAlarm",
            "Timestamp": timestamp,
            "HistoryItemType": kind,
            "HistorySummary": summary,
            "HistoryData": json.dumps(data),
        }
    )
    del items[:-MAX_HISTORY_ITEMS]  # AWS keeps 14 days; a long run keeps the newest items


def _configuration(alarm: Alarm) -> dict[str, Any]:
    return {
        "alarmName": alarm.name,
        "alarmArn": alarm.alarm_arn,
        "namespace": alarm.namespace,
        "metricName": alarm.metric_name,
        "dimensions": [{"name": d.name, "value": d.value} for d in alarm.dimensions],
        "statistic": alarm.statistic,
        "period": alarm.period,
        "evaluationPeriods": alarm.evaluation_periods,
        "datapointsToAlarm": alarm.datapoints_to_alarm,
        "threshold": alarm.threshold,
        "comparisonOperator": alarm.comparison_operator,
        "treatMissingData": alarm.treat_missing_data,
        "actionsEnabled": alarm.actions_enabled,
        "alarmActions": list(alarm.alarm_actions),
    }


def describe(backend: CloudWatchBackend, params: dict[str, Any]) -> dict[str, Any]:
    """DescribeAlarmHistory's answer to `params` (the API's parameter names)."""
    name, kind = params.get("AlarmName"), params.get("HistoryItemType")
    types, start, end = params.get("AlarmTypes") or [], params.get("StartDate"), params.get("EndDate")
    items = [
        item
        for item in history(backend)
        if (not name or item["AlarmName"] == name)
        and (not kind or item["HistoryItemType"] == kind)
        and (not types or item["AlarmType"] in types)
        and (start is None or item["Timestamp"] >= _aware(start))
        and (end is None or item["Timestamp"] <= _aware(end))
    ]
    # in the order things happened (under --time-scale the loop's timestamps run ahead of a user's wall-clock
    # ones, so the timestamps alone would interleave them wrongly)
    if params.get("ScanBy") != "TimestampAscending":
        items.reverse()
    first = int(params["NextToken"]) if str(params.get("NextToken") or "").isdigit() else 0
    size = int(params.get("MaxRecords") or DEFAULT_MAX_RECORDS)
    answer: dict[str, Any] = {"AlarmHistoryItems": items[first : first + size]}
    if first + size < len(items):
        answer["NextToken"] = str(first + size)
    return answer


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def patch() -> None:
    """SetAlarmState and PutMetricAlarm keep history (and AWS's states); DescribeAlarmHistory (idempotent)."""
    original_set = CloudWatchBackend.set_alarm_state
    if getattr(original_set, "_emulator_patched", False):
        return
    original_put = CloudWatchBackend.put_metric_alarm

    @functools.wraps(original_set)
    def set_alarm_state(
        self: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str
    ) -> None:
        alarm = self.alarms.get(alarm_name)
        old = None if alarm is None else (alarm.state_value, alarm.state_reason, alarm.state_reason_data)
        original_set(self, alarm_name, reason, reason_data, state_value)  # validates, as AWS
        alarm = self.alarms[alarm_name]
        assert old is not None
        alarm.state_value, alarm.state_reason, alarm.state_reason_data = old
        _set_state(self, alarm, state_value, reason, reason_data or "{}", datetime.now(UTC))
        overrides: dict[str, str] = kept_on(self, _OVERRIDES, dict)
        overrides[alarm_name] = state_value

    @functools.wraps(original_put)
    def put_metric_alarm(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Alarm:
        name = kwargs.get("name", args[0] if args else "")
        old = self.alarms.get(name)
        alarm: Alarm = original_put(self, *args, **kwargs)
        if old is None:
            start_insufficient(alarm)
        else:
            alarm.state_value, alarm.state_reason = old.state_value, old.state_reason
            alarm.state_reason_data, alarm.state_updated_timestamp = (
                old.state_reason_data,
                old.state_updated_timestamp,
            )
            alarm.history = old.history
        kind = "Create" if old is None else "Update"
        data = {"version": "1.0", "type": kind, f"{kind.lower()}dAlarm": _configuration(alarm)}
        summary = f'Alarm "{alarm.name}" {"created" if old is None else "updated"}'
        _add(self, alarm.name, datetime.now(UTC), "ConfigurationUpdate", summary, data)
        return alarm

    def describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
        return ActionResult(describe(self.cloudwatch_backend, self._get_params()))

    set_alarm_state._emulator_patched = True  # type: ignore[attr-defined]
    CloudWatchBackend.set_alarm_state = set_alarm_state  # type: ignore[method-assign]
    CloudWatchBackend.put_metric_alarm = put_metric_alarm  # type: ignore[method-assign]
    CloudWatchResponse.describe_alarm_history = describe_alarm_history  # type: ignore[attr-defined]

"""CloudWatch + Application Auto Scaling, one minute at a time, over a fake account and against moto."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from emulator.autoscaler import Autoscaler
from emulator.model import ServiceDescription
from emulator.scaling.metrics import MetricKey, StatisticSet
from emulator.telemetry import CpuSample
from support.seed import build_seed_service

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _seed() -> ServiceDescription:
    return build_seed_service()


class FakeAccount:
    """Holds the desired count the way the emulated account does, and records every write."""

    def __init__(self, service: ServiceDescription) -> None:
        self.service = service
        self.metrics: list[tuple[StatisticSet, datetime]] = []
        self.alarm_writes: list[tuple[str, str, Mapping[str, Any], datetime]] = []
        self.activities: list[tuple[str, str, int, int, datetime]] = []
        self.fail_alarm_writes = 0

    def put_metric(self, key: MetricKey, datum: StatisticSet, timestamp: datetime, unit: str) -> None:
        if key[1] == "CPUUtilization":
            self.metrics.append((datum, timestamp))

    def set_alarm_state(
        self, alarm_name: str, state: str, reason: str, reason_data: Mapping[str, Any], timestamp: datetime
    ) -> None:
        if self.fail_alarm_writes:
            self.fail_alarm_writes -= 1
            raise RuntimeError("moto went away")
        self.alarm_writes.append((alarm_name, state, reason_data, timestamp))

    def set_desired_count(self, n: int) -> None:
        self.service = dataclasses.replace(self.service, desired_count=n)

    def record_scaling_activity(
        self, policy_name: str, alarm_name: str, from_capacity: int, to_capacity: int, timestamp: datetime
    ) -> None:
        self.activities.append((policy_name, alarm_name, from_capacity, to_capacity, timestamp))


class Load:
    """Each running task burns `share` of its vCPU over each minute."""

    def __init__(self, share: float = 0.5) -> None:
        self.share, self.tasks = share, 2

    def sample(self) -> CpuSample:
        return CpuSample([self.share * 60.0] * self.tasks, elapsed_seconds=60.0)


def minutes(
    scaler: Autoscaler, account: FakeAccount, load: Load, count: int, start: int = 1, lag: int = 1
) -> None:
    """`count` minute boundaries; the running count follows the desired count `lag` minutes late."""
    history = [account.service.desired_count] * (lag + 1)
    for m in range(start, start + count):
        load.tasks = history[-1 - lag]
        scaler.tick(m * 60.0, account.service, load.tasks, False)
        history.append(account.service.desired_count)


def test_high_cpu_scales_out_every_minute_and_low_cpu_back_to_min() -> None:
    account, load = FakeAccount(_seed()), Load(0.9)  # 90 %: +2 from the running count, a minute behind
    scaler = Autoscaler(account, load, epoch=EPOCH)
    minutes(scaler, account, load, 7)
    assert account.service.desired_count == 10 and scaler.alarm_states["high-cpu"] == "ALARM"
    assert [a[3] for a in account.activities][:4] == [4, 6, 8, 10]
    first = scaler.activities[0]
    assert (first.cause, first.policy_name, first.from_capacity, first.to_capacity, first.time) == (
        "high-cpu",
        "ScaleUpPolicy",
        2,
        4,
        60.0,
    )
    assert account.activities[0] == (
        "ScaleUpPolicy",
        "high-cpu",
        2,
        4,
        datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
    )
    load.share = 0.05
    minutes(scaler, account, load, 20, start=8)
    assert account.service.desired_count == 2
    assert scaler.alarm_states == {"high-cpu": "OK", "low-cpu": "ALARM"}
    scale_in = [a for a in scaler.activities if a.to_capacity < a.from_capacity]
    assert {a.cause for a in scale_in} == {"low-cpu"} and scale_in[-1].to_capacity == 2


def test_metrics_and_alarm_states_reach_the_account() -> None:
    account, load = FakeAccount(_seed()), Load(0.7)
    scaler = Autoscaler(account, load, epoch=EPOCH)
    scaler.tick(60.0, account.service, 2, False)
    assert account.metrics == [(StatisticSet.of([70.0, 70.0]), EPOCH)]  # the minute that ended
    states = {name: state for name, state, _, _ in account.alarm_writes}
    assert states == {"high-cpu": "ALARM", "low-cpu": "OK"}
    data = next(d for name, _, d, _ in account.alarm_writes if name == "high-cpu")
    assert data["recentDatapoints"] == [70.0] and data["threshold"] == 70.0
    writes = len(account.alarm_writes)
    load.share = 0.75
    scaler.tick(120.0, account.service, 2, False)
    assert len(account.alarm_writes) == writes  # only state changes are written


def test_no_running_task_publishes_nothing_and_alarms_stay_insufficient() -> None:
    account = FakeAccount(_seed())
    idle = type("Idle", (), {"sample": lambda self: CpuSample([], 60.0)})()
    scaler = Autoscaler(account, idle, epoch=EPOCH)
    for m in (1, 2, 3):
        scaler.tick(m * 60.0, account.service, 0, False)
    assert account.metrics == [] and set(scaler.alarm_states.values()) == {"INSUFFICIENT_DATA"}
    assert {state for _, state, _, _ in account.alarm_writes} == {"INSUFFICIENT_DATA"}


def test_a_users_update_service_wins() -> None:
    account, load = FakeAccount(_seed()), Load(0.5)
    scaler = Autoscaler(account, load, epoch=EPOCH)
    scaler.tick(60.0, account.service, 2, False)
    account.set_desired_count(7)  # the user's UpdateService
    load.tasks = 7
    scaler.tick(120.0, account.service, 7, False)
    assert account.service.desired_count == 7 and not scaler.activities  # 50 % on 7: no alarm


def test_a_changed_policy_is_used_at_the_next_minute() -> None:
    """put-scaling-policy through the API: the plan is rebuilt from what the account holds."""
    account, load = FakeAccount(_seed()), Load(0.9)
    scaler = Autoscaler(account, load, epoch=EPOCH)
    scaler.tick(60.0, account.service, 2, False)
    assert account.service.desired_count == 4  # +2
    up = account.service.step_policies[0]
    bigger = dataclasses.replace(
        up,
        step_adjustments=(
            dataclasses.replace(up.step_adjustments[0], scaling_adjustment=5),
            *up.step_adjustments[1:],
        ),
        cooldown=0,
    )
    account.service = dataclasses.replace(
        account.service, step_policies=(bigger, *account.service.step_policies[1:])
    )
    load.share = 0.75  # 75 %: the first step, now +5
    scaler.tick(120.0, account.service, 4, False)
    assert account.service.desired_count == 9


def test_a_failing_alarm_write_is_logged_and_written_at_the_next_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    account, load = FakeAccount(_seed()), Load(0.9)
    scaler = Autoscaler(account, load, epoch=EPOCH)
    account.fail_alarm_writes = 2
    scaler.tick(60.0, account.service, 2, False)
    assert "could not write the state of alarm" in caplog.text
    scaler.tick(120.0, account.service, 2, False)
    assert {name for name, *_ in account.alarm_writes} == {"high-cpu", "low-cpu"}


@pytest.mark.slow
def test_moto_agrees_with_the_autoscaler() -> None:
    """describe_alarms, describe_alarm_history, describe_services and describe_scaling_activities on the emulated
    account tell what the autoscaler decided."""
    from emulator.aws import emulated_account

    with emulated_account() as account:
        load = Load(0.95)
        scaler = Autoscaler(account, load, epoch=EPOCH)
        for m in (1, 2):
            service = account.read_service()
            load.tasks = 2
            scaler.tick(m * 60.0, service, 2, False)
        alarms = account.client("cloudwatch").describe_alarms()["MetricAlarms"]
        moto_states = {a["AlarmName"]: a["StateValue"] for a in alarms}
        assert moto_states == dict(scaler.alarm_states)
        assert "ALARM" in moto_states.values()
        desired = account.read_service().desired_count
        assert desired == scaler.activities[-1].to_capacity > 2
        described = account.client("ecs").describe_services(
            cluster=account.cluster_name, services=[account.service_name]
        )["services"][0]
        assert described["desiredCount"] == desired
        activities = account.client("application-autoscaling").describe_scaling_activities(
            ServiceNamespace="ecs"
        )["ScalingActivities"]
        assert activities[0]["Description"] == f"Setting desired count to {desired}."
        assert activities[0]["StatusCode"] == "Successful"
        high = next(name for name, state in moto_states.items() if state == "ALARM")
        history = account.client("cloudwatch").describe_alarm_history(
            AlarmName=high, HistoryItemType="StateUpdate"
        )["AlarmHistoryItems"]
        assert history and "to ALARM" in history[0]["HistorySummary"]

"""The live loop on a VirtualClock with fakes, and against the emulated account (moto)."""

from __future__ import annotations

import asyncio
import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emulator.autoscaler import Autoscaler, CpuSample, task_utilization
from emulator.clock import VirtualClock
from emulator.model import ServiceDescription


def _seed() -> ServiceDescription:
    path = Path(__file__).resolve().parent / "scaling" / "conftest.py"
    spec = importlib.util.spec_from_file_location("scaling_seed_for_autoscaler", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    service: ServiceDescription = module.build_seed_service()
    return service


class FakeCluster:
    """Tasks follow the desired count after `lag` ticks; each RUNNING task burns `load` of its vCPU."""

    def __init__(self, sink: FakeSink, lag: int = 0) -> None:
        self.sink, self.lag, self.load = sink, lag, 0.5
        self.history: list[int] = []
        self.samples = 0

    def running_count(self) -> int:
        return self.history[-1 - self.lag] if len(self.history) > self.lag else self.sink.desired

    def sample(self) -> CpuSample:
        self.history.append(self.sink.desired)
        self.samples += 1
        return CpuSample([self.load * 60.0] * self.running_count(), elapsed_seconds=60.0)


class FakeSink:
    def __init__(self, desired: int = 2) -> None:
        self.desired = desired
        self.metrics: list[tuple[list[float], datetime]] = []
        self.alarm_writes: list[tuple[str, str, dict[str, Any] | None]] = []
        self.desired_writes: list[int] = []

    def put_cpu_utilization(self, per_task_percent: list[float], timestamp: datetime) -> None:
        self.metrics.append((per_task_percent, timestamp))

    def set_alarm_state(
        self, alarm_name: str, state: str, reason: str, reason_data: dict[str, Any] | None = None
    ) -> None:
        self.alarm_writes.append((alarm_name, state, reason_data))

    def set_desired_count(self, n: int) -> None:
        self.desired = n
        self.desired_writes.append(n)

    def desired_count(self) -> int:
        return self.desired


def make(lag: int = 0) -> tuple[VirtualClock, FakeSink, FakeCluster, Autoscaler]:
    clock, sink = VirtualClock(), FakeSink()
    cluster = FakeCluster(sink, lag)
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    scaler = Autoscaler(clock, _seed(), cluster, sink, cluster.running_count, epoch=epoch)
    return clock, sink, cluster, scaler


async def begin(scaler: Autoscaler) -> asyncio.Task[None]:
    """Start the loop and let it reach its first clock.sleep."""
    task = scaler.start()
    await asyncio.sleep(0)
    return task


def test_task_utilization_uses_the_task_cpu_and_caps_at_100() -> None:
    assert task_utilization(CpuSample([42.0, 6.0], 60.0), 1.0) == [70.0, 10.0]
    assert task_utilization(CpuSample([15.0], 60.0), 0.5) == [50.0]
    assert task_utilization(CpuSample([200.0], 60.0), 1.0) == [100.0]
    assert task_utilization(CpuSample([1.0], 0.0), 1.0) == []


async def test_high_cpu_scales_out_every_minute_and_low_cpu_back_to_min() -> None:
    clock, sink, cluster, scaler = make(lag=1)
    task = await begin(scaler)
    assert task.get_name() == "autoscaler"
    cluster.load = 0.9  # 90 %: +2 from the running count, which lags a minute behind
    await clock.advance(60 * 7)
    assert sink.desired == 10 and scaler.alarm_states["high-cpu"] == "ALARM"
    assert sink.desired_writes == [4, 6, 8, 10]
    first = scaler.activities[0]
    assert (first.cause, first.policy_name, first.from_capacity, first.to_capacity, first.time) == (
        "high-cpu",
        "ScaleUpPolicy",
        2,
        4,
        60.0,
    )
    cluster.load = 0.05
    await clock.advance(60 * 20)
    assert sink.desired == 2 and scaler.alarm_states == {"high-cpu": "OK", "low-cpu": "ALARM"}
    scale_in = [a for a in scaler.activities if a.to_capacity < a.from_capacity]
    assert {a.cause for a in scale_in} == {"low-cpu"} and scale_in[-1].to_capacity == 2
    assert scale_in[0].from_capacity - scale_in[0].to_capacity == 3  # -1 from the running count (8), not 10
    await scaler.stop()
    assert task.cancelled()
    ticks = cluster.samples
    await clock.advance(600)
    assert cluster.samples == ticks  # stopped: no more ticks


async def test_metrics_and_alarm_states_reach_the_sink() -> None:
    clock, sink, cluster, scaler = make()
    await begin(scaler)
    cluster.load = 0.7
    await clock.advance(60)
    assert sink.metrics == [([70.0, 70.0], datetime(2026, 1, 1, tzinfo=UTC))]  # the minute that ended
    states = {name: state for name, state, _ in sink.alarm_writes}
    assert states == {"high-cpu": "ALARM", "low-cpu": "OK"}
    data = next(d for name, _, d in sink.alarm_writes if name == "high-cpu")
    assert data is not None and data["recentDatapoints"] == [70.0] and data["threshold"] == 70.0
    writes = len(sink.alarm_writes)
    cluster.load = 0.75
    await clock.advance(60)
    assert len(sink.alarm_writes) == writes  # only state changes are written
    await scaler.stop()


async def test_no_running_task_publishes_nothing_and_alarms_stay_insufficient() -> None:
    clock, sink, _, scaler = make()
    scaler.running_count = lambda: 0
    scaler.cpu_source = type("Idle", (), {"sample": lambda self: CpuSample([], 60.0)})()
    await begin(scaler)
    await clock.advance(180)
    assert sink.metrics == [] and set(scaler.alarm_states.values()) == {"INSUFFICIENT_DATA"}
    assert {state for _, state, _ in sink.alarm_writes} == {"INSUFFICIENT_DATA"}
    await scaler.stop()


async def test_a_users_update_service_wins() -> None:
    clock, sink, cluster, scaler = make()
    await begin(scaler)
    cluster.load = 0.5
    await clock.advance(60)
    sink.desired = 7  # the user's UpdateService
    await clock.advance(60)
    assert sink.desired == 7 and not scaler.activities  # 50 % on 7 tasks: no alarm, the user's count stays
    await scaler.stop()


async def test_a_failing_tick_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    clock, _, cluster, scaler = make()
    calls = {"n": 0}
    real = cluster.sample

    def flaky() -> CpuSample:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("psutil went away")
        return real()

    scaler.cpu_source = type("Flaky", (), {"sample": lambda self: flaky()})()
    await begin(scaler)
    await clock.advance(120)
    assert "autoscaler tick failed" in caplog.text and calls["n"] == 2
    await scaler.stop()


@pytest.mark.slow
async def test_moto_agrees_with_the_autoscaler() -> None:
    """describe_alarms and describe_services on the emulated account tell what the autoscaler decided."""
    from emulator.aws import emulated_account

    with emulated_account() as account:
        clock = VirtualClock()
        cluster = FakeCluster(FakeSink())  # only its CPU model; counts come from the account
        scaler = Autoscaler(clock, account.service, cluster, account, account.desired_count)
        cluster.sink = type("Counts", (), {"desired": property(lambda self: account.desired_count())})()  # type: ignore[assignment]
        cluster.load = 0.95
        await begin(scaler)
        await clock.advance(120)
        await scaler.stop()
        alarms = account.client("cloudwatch").describe_alarms()["MetricAlarms"]
        moto_states = {a["AlarmName"]: a["StateValue"] for a in alarms}
        assert moto_states == dict(scaler.alarm_states)
        assert "ALARM" in moto_states.values()
        assert account.desired_count() == scaler.activities[-1].to_capacity > 2
        described = account.client("ecs").describe_services(
            cluster=account.cluster_name, services=[account.service_name]
        )["services"][0]
        assert described["desiredCount"] == account.desired_count()
        target = account.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")
        assert target["ScalableTargets"][0]["MaxCapacity"] == account.service.scalable_target.max_capacity  # type: ignore[union-attr]


def test_clock_boundaries_are_whole_minutes() -> None:
    clock, _, _, scaler = make()
    result = asyncio.run(_tick_at(clock, scaler, 59.9999))
    assert result.evaluations[0].timestamp == 60.0


async def _tick_at(clock: VirtualClock, scaler: Autoscaler, seconds: float) -> Any:
    await clock.advance(seconds)
    return scaler.tick()

"""Issue 13, item 5, live: `chat-emulator up` with ScalingMetric=ActiveConnections scales on the chat's own metric.

The emulator runs in this process (in-process workers, its embedded Redis) at 120x: an emulated minute, one
alarm evaluation, is half a second, AlarmHigh's 3 minutes 1.5 s and AlarmLow's 15 minutes 7.5 s. Real
python-socketio clients open 20 connections through the load balancer onto the one task, four times the target of
5 per task; what the AWS API says is read with real boto3 on the emulator's endpoint, as a user scripts it:
- describe-alarms: the target tracking policy's AlarmHigh goes to ALARM on FargateChat / ActiveConnections;
- get-metric-statistics: the ActiveConnections datapoints carry the connections the workers hold (20, on 1 task);
- describe-services: the desired count rises to ceil(1 x 20 / 5) = 4 (MaxCapacity) and 4 tasks run;
- the clients close: AlarmLow goes to ALARM, the service scales back in to MinCapacity one task per activity
  (at most 10 %, at least 1: emulator/scaling/target_tracking.py), and describe-scaling-activities agrees.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio

from emulator.supervisor import Emulator, EmulatorConfig
from support.emulated import Aws

pytestmark = [pytest.mark.slow]

SCALE = 120.0
TARGET = 5
CONNECTIONS = 20
PARAMS = {
    "ScalingMode": "TargetTrackingScaling",
    "ScalingMetric": "ActiveConnections",
    "TargetConnectionsPerTask": str(TARGET),
    "DesiredCount": "1",
    "MinCapacity": "1",
    "MaxCapacity": "4",
    "DeregistrationDelay": "5",
}


async def eventually(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll `check` (a coroutine function) until it answers something truthy; fail naming `what` and the last."""
    deadline = time.monotonic() + timeout
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}; last: {last!r}")
        await asyncio.sleep(0.1)


class Api(Aws):
    """The AWS API on the emulator's endpoint (`support.emulated.Aws`), and what this scenario reads of it."""

    async def healthy_targets(self) -> int:
        targets = await self.targets(await self.target_group_arn())
        return sum(t["TargetHealth"]["State"] == "healthy" for t in targets)

    async def alarms(self) -> dict[str, dict[str, Any]]:
        """The target tracking policy's two alarms by kind: {"AlarmHigh": ..., "AlarmLow": ...}."""
        answer = await self.call(self.cloudwatch.describe_alarms)
        return {
            kind: alarm
            for alarm in answer["MetricAlarms"]
            for kind in ("AlarmHigh", "AlarmLow")
            if f"-{kind}-" in alarm["AlarmName"]
        }

    async def datapoints(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        answer = await self.call(
            self.cloudwatch.get_metric_statistics,
            Namespace="FargateChat",
            MetricName="ActiveConnections",
            Dimensions=[
                {"Name": "ClusterName", "Value": self.cluster},
                {"Name": "ServiceName", "Value": self.service_name},
            ],
            StartTime=now - timedelta(days=1),
            EndTime=now + timedelta(days=1),  # the emulated clock runs ahead of the wall clock
            Period=60,
            Statistics=["Average", "Sum", "SampleCount", "Maximum"],
        )
        points: list[dict[str, Any]] = sorted(answer["Datapoints"], key=lambda p: p["Timestamp"])
        return points

    async def activities(self) -> list[dict[str, Any]]:
        activities: list[dict[str, Any]] = await self.scaling_activities()
        return activities[::-1]  # oldest first


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    config = EmulatorConfig(port=0, time_scale=SCALE, params=PARAMS, state_file=tmp_path / "state.json")
    emulator = Emulator(config)
    try:
        await emulator.start()
        yield emulator
    finally:
        await emulator.shutdown(force=True)


async def open_clients(url: str, count: int) -> list[socketio.AsyncClient]:
    clients = [socketio.AsyncClient(reconnection=False) for _ in range(count)]
    await asyncio.gather(*(c.connect(url, transports=["websocket"], wait_timeout=10) for c in clients))
    return clients


async def test_the_service_scales_out_on_connections_per_task_and_back_in_when_they_close(
    emulator: Emulator,
) -> None:
    api = Api(emulator)
    started = time.monotonic()
    alarms = await api.alarms()
    assert set(alarms) == {"AlarmHigh", "AlarmLow"}, list(alarms)
    for alarm in alarms.values():  # the managed alarms watch the chat's own metric, per task
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
            "FargateChat",
            "ActiveConnections",
            "Average",
        )
    assert (alarms["AlarmHigh"]["Threshold"], alarms["AlarmLow"]["Threshold"]) == (TARGET, 0.9 * TARGET)

    async def serving(count: int) -> dict[str, Any] | None:
        """describe-services once `count` tasks run and `count` targets are healthy (the ALB routes to them)."""
        service = await api.service()
        return service if service["runningCount"] == count == await api.healthy_targets() else None

    await eventually("the one task serves", lambda: serving(1))
    clients = await open_clients(emulator.load_balancer.url, CONNECTIONS)
    try:
        await eventually("AlarmHigh in ALARM", lambda: _in_state(api, "AlarmHigh", "ALARM"), timeout=20)
        # the datapoints that set it off: the 20 connections, all on the one task (sticky WebSockets)
        points = await api.datapoints()
        assert any(p["SampleCount"] == 1 and p["Average"] == CONNECTIONS for p in points), points
        assert all(p["Sum"] <= CONNECTIONS for p in points), points
        assert (await api.alarms())["AlarmLow"]["StateValue"] == "OK"  # 20 per task is not below 4.5
        scaled = await eventually("4 tasks running", lambda: serving(4), timeout=20)
        assert scaled["desiredCount"] == 4  # ceil(1 task x 20 / 5), MaxCapacity
        workers = [r for r in emulator.cluster.reports().values() if r.started and not r.exited]
        assert len(workers) == 4
        # once the 4 report: 20 connections over 4 tasks, 5 each (the target: neither alarm breaches)
        points = await eventually(
            "a datapoint of the 4 tasks",
            lambda: _datapoint(api, lambda p: p["SampleCount"] == 4),
            timeout=10,
        )
        assert points["Sum"] == CONNECTIONS and points["Average"] == CONNECTIONS / 4
    finally:
        await asyncio.gather(*(c.disconnect() for c in clients))

    low = await eventually("AlarmLow in ALARM", lambda: _in_state(api, "AlarmLow", "ALARM"), timeout=20)
    assert low["MetricName"] == "ActiveConnections"
    assert (await api.alarms())["AlarmHigh"]["StateValue"] == "OK"
    back = await eventually("back to 1 task", lambda: serving(1), timeout=25)
    assert back["desiredCount"] == 1

    activities = await api.activities()
    steps = [(a["Description"], a["Cause"]) for a in activities]
    assert [d for d, _ in steps] == [f"Setting desired count to {n}." for n in (4, 3, 2, 1)], steps
    assert "AlarmHigh" in steps[0][1] and all("AlarmLow" in c for _, c in steps[1:]), steps
    assert all(a["StatusCode"] == "Successful" for a in activities)
    print(f"scaled out to 4 and back in to 1 in {time.monotonic() - started:.1f} s of wall time")


async def _in_state(api: Api, kind: str, state: str) -> dict[str, Any] | None:
    alarm = (await api.alarms())[kind]
    return alarm if alarm["StateValue"] == state else None


async def _datapoint(api: Api, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    return next((p for p in await api.datapoints() if predicate(p)), None)

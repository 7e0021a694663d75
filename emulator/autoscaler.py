"""The live control loop: every minute of a Clock, what CloudWatch, Application Auto Scaling and ECS do.

Each tick (on the minute boundary of the clock):
1. sample the RUNNING tasks' CPU from a `CpuSource` and turn it into `AWS/ECS CPUUtilization`
   (`100 x cpu_seconds / (seconds x task vCPU)` per task, at most 100 on Fargate), published through
   the sink for the minute that just ended; nothing is published when no task runs (reference 4.1);
2. evaluate every alarm with `emulator.scaling` and write the states that changed to the sink;
3. run the policies of the alarms in ALARM from the running count, the desired count read back from
   the sink (so a user's own UpdateService wins, as in AWS), and write the new desired count.

API (for `chat-emulator up` and `status`):

    scaler = Autoscaler(clock, service, cpu_source, sink, running_count=cluster.running_count)
    task = scaler.start()          # a named asyncio task, logged if it dies; or `await scaler.run()`
    scaler.alarm_states            # {alarm name: OK | ALARM | INSUFFICIENT_DATA}
    scaler.activities              # ScalingActivity(time, cause, policy_name, from_capacity, to_capacity)
    scaler.timestamp(a.time)       # the activity's time as a datetime
    await scaler.stop()

`emulator.aws.EmulatedAccount` satisfies `ControlPlaneSink`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from emulator.clock import Clock
from emulator.model import AlarmState, ServiceDescription
from emulator.scaling import (
    ControlPlan,
    Evaluation,
    MetricStore,
    ScalingActivity,
    ScalingState,
    Situation,
    StatisticSet,
    evaluate,
    metric_key,
)

log = logging.getLogger(__name__)

PERIOD = 60.0


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds each RUNNING task used over `elapsed_seconds` of real time (the source measures both)."""

    task_cpu_seconds: Sequence[float]
    elapsed_seconds: float


class CpuSource(Protocol):
    def sample(self) -> CpuSample:
        """Per-task CPU seconds since the previous sample, for the tasks RUNNING now."""
        ...


class ControlPlaneSink(Protocol):
    def put_cpu_utilization(self, per_task_percent: list[float], timestamp: datetime) -> None: ...

    def set_alarm_state(
        self, alarm_name: str, state: str, reason: str, reason_data: dict[str, Any] | None = None
    ) -> None: ...

    def set_desired_count(self, n: int) -> None: ...

    def desired_count(self) -> int: ...


def task_utilization(sample: CpuSample, task_vcpu: float) -> list[float]:
    """Per-task CPUUtilization in percent; a Fargate task cannot use more than its vCPU."""
    if sample.elapsed_seconds <= 0 or task_vcpu <= 0:
        return []
    return [
        max(0.0, min(100.0, 100.0 * used / (sample.elapsed_seconds * task_vcpu)))
        for used in sample.task_cpu_seconds
    ]


class Autoscaler:
    def __init__(
        self,
        clock: Clock,
        service: ServiceDescription,
        cpu_source: CpuSource,
        sink: ControlPlaneSink,
        running_count: Callable[[], int],
        *,
        deployment_in_progress: Callable[[], bool] = lambda: False,
        epoch: datetime | None = None,
        max_activities: int = 1000,
    ) -> None:
        self.clock, self.service, self.cpu_source, self.sink = clock, service, cpu_source, sink
        self.running_count, self.deployment_in_progress = running_count, deployment_in_progress
        self.plan = ControlPlan.of(service)
        self.state = ScalingState()
        self.store = MetricStore()
        self.activities: deque[ScalingActivity] = deque(maxlen=max_activities)
        self._written: dict[str, AlarmState] = {}
        self._key = metric_key(
            "AWS/ECS",
            "CPUUtilization",
            (("ClusterName", service.cluster_name), ("ServiceName", service.service_name)),
        )
        self._epoch = epoch or datetime.now(UTC) - timedelta(seconds=clock.now())
        self._task: asyncio.Task[None] | None = None

    @property
    def alarm_states(self) -> Mapping[str, AlarmState]:
        return {a.alarm_name: self.state.alarm_state(a.alarm_name) for a in self.plan.alarms}

    def timestamp(self, clock_seconds: float) -> datetime:
        """A clock time as the datetime the sink (CloudWatch) sees."""
        return self._epoch + timedelta(seconds=clock_seconds)

    def tick(self, at: float | None = None) -> Evaluation:
        """One minute of the control plane at minute boundary `at` (default: the clock's nearest one)."""
        now = round(self.clock.now() / PERIOD) * PERIOD if at is None else at
        self._publish_cpu(now)
        situation = Situation(
            now, self.sink.desired_count(), self.running_count(), self.deployment_in_progress()
        )
        result = evaluate(self.plan, self.service.scalable_target, self.state, self.store, situation)
        self.state = result.state
        self._write_alarm_states(result)
        if result.activity is not None:
            self.sink.set_desired_count(result.activity.to_capacity)
            self.activities.append(result.activity)
            log.info(
                "scaling activity: %s %d -> %d (%s)",
                result.activity.policy_name,
                result.activity.from_capacity,
                result.activity.to_capacity,
                result.activity.cause,
            )
        return result

    def _publish_cpu(self, now: float) -> None:
        per_task = task_utilization(self.cpu_source.sample(), self.service.task_definition.vcpu)
        if not per_task:
            return
        start = now - PERIOD  # the datum describes the minute that just ended
        self.store.put(self._key, start, StatisticSet.of(per_task))
        self.sink.put_cpu_utilization(per_task, self.timestamp(start))

    def _write_alarm_states(self, result: Evaluation) -> None:
        for evaluation in result.evaluations:
            if self._written.get(evaluation.alarm_name) == evaluation.state:
                continue
            alarm = self.plan.alarm(evaluation.alarm_name)
            try:
                self.sink.set_alarm_state(
                    alarm.alarm_name, evaluation.state, evaluation.reason, evaluation.reason_data(alarm)
                )
            except Exception:
                log.exception("could not write the state of alarm %s", alarm.alarm_name)
                continue
            self._written[alarm.alarm_name] = evaluation.state

    async def run(self) -> None:
        """Tick on every minute boundary of the clock until cancelled; a failed tick is logged, not fatal."""
        boundary = (self.clock.now() // PERIOD + 1) * PERIOD
        while True:
            await self.clock.sleep(max(0.0, boundary - self.clock.now()))
            try:
                self.tick(boundary)
            except Exception:
                log.exception("autoscaler tick failed at clock %.0f s", boundary)
            boundary += PERIOD

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="autoscaler")
            self._task.add_done_callback(_log_end)
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _log_end(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        log.info("%s stopped", task.get_name())
    elif (exc := task.exception()) is not None:
        log.error("%s died", task.get_name(), exc_info=exc)

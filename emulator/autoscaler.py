"""CloudWatch and Application Auto Scaling, one minute at a time, over the emulated account.

The control loop (`emulator.controller.ControlLoop`) calls `tick(at, service, running, deployment_in_progress)` on
every minute boundary of its Clock, with the service as the account holds it at that moment:
1. sample the serving tasks' CPU from a `CpuSource` and publish `AWS/ECS CPUUtilization` for the minute that just
   ended (`emulator.telemetry.service_utilization`); nothing is published when no task runs (reference 4.1); with a
   `ConnectionSource`, and workers whose environment names a metrics namespace, their `ActiveConnections` too;
2. evaluate every alarm of the service's current `ControlPlan` (rebuilt when a policy or an alarm changed through
   the API) and write the states that changed, with AWS's StateReason / StateReasonData and a history item;
3. run the policies of the alarms in ALARM from ECS's runningCount and the desired count the account holds (so a
   user's own UpdateService wins, as in AWS), write the new desired count and record the scaling activity.

`override(...)` is CloudWatch's SetAlarmState: a user set an alarm's state; if that is ALARM, its policies run
once, now, and the next minute's evaluation returns the alarm to the state its data says (AWS's documented way
to test a scaling policy).

    scaler = Autoscaler(account, cpu_source, epoch=datetime(...))
    scaler.alarm_states            # {alarm name: OK | ALARM | INSUFFICIENT_DATA}, as last evaluated
    scaler.activities              # ScalingActivity(time, cause, policy_name, from_capacity, to_capacity)
    scaler.timestamp(a.time)       # a clock time as the datetime CloudWatch and the ECS API show
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from emulator.model import AlarmState, ServiceDescription
from emulator.scaling import (
    ControlPlan,
    Evaluation,
    MetricStore,
    ScalingActivity,
    ScalingState,
    Situation,
    StatisticSet,
    act_on_alarm,
    evaluate,
    metric_key,
)
from emulator.scaling.alarms import breaches
from emulator.scaling.metrics import MetricKey, alarm_metric_key
from emulator.telemetry import ConnectionSource, CpuSource, connections_metric_key, service_utilization

log = logging.getLogger(__name__)

PERIOD = 60.0


class ScalingAccount(Protocol):
    """What CloudWatch and Application Auto Scaling write into the account (see `emulator.controller.Account`)."""

    def put_metric(self, key: MetricKey, datum: StatisticSet, timestamp: datetime, unit: str) -> None:
        """One datum of the metric `key` (ECS's CPUUtilization, the workers' EMF lines)."""
        ...

    def set_alarm_state(
        self, alarm_name: str, state: str, reason: str, reason_data: Mapping[str, Any], timestamp: datetime
    ) -> None: ...

    def set_desired_count(self, n: int) -> None: ...

    def record_scaling_activity(
        self, policy_name: str, alarm_name: str, from_capacity: int, to_capacity: int, timestamp: datetime
    ) -> None: ...


def cpu_metric_key(service: ServiceDescription) -> MetricKey:
    """The one key of the service's `AWS/ECS CPUUtilization` metric (ClusterName, ServiceName)."""
    return metric_key(
        "AWS/ECS",
        "CPUUtilization",
        (("ClusterName", service.cluster_name), ("ServiceName", service.service_name)),
    )


class Autoscaler:
    def __init__(
        self,
        account: ScalingAccount,
        cpu_source: CpuSource,
        *,
        epoch: datetime | None = None,
        max_activities: int | None = 1000,
        connection_source: ConnectionSource | None = None,
    ) -> None:
        self.account, self.cpu_source = account, cpu_source
        self.connection_source = connection_source
        self.state = ScalingState()
        self.store = MetricStore()
        self.activities: deque[ScalingActivity] = deque(maxlen=max_activities)
        self.plan = ControlPlan((), {})
        self._plan_source: tuple[object, ...] = ()
        self._written: dict[str, AlarmState] = {}
        self._epoch = epoch or datetime.now(UTC)

    @property
    def alarm_states(self) -> Mapping[str, AlarmState]:
        return {a.alarm_name: self.state.alarm_state(a.alarm_name) for a in self.plan.alarms}

    def timestamp(self, clock_seconds: float) -> datetime:
        """A clock time as the datetime the account (CloudWatch, ECS) shows."""
        return self._epoch + timedelta(seconds=clock_seconds)

    def tick(
        self, at: float, service: ServiceDescription, running: int, deployment_in_progress: bool
    ) -> Evaluation:
        """One minute of CloudWatch + Application Auto Scaling at minute boundary `at`."""
        plan = self._plan_of(service)
        self._publish_cpu(at, service)
        self._publish_connections(at, service)
        situation = Situation(at, service.desired_count, running, deployment_in_progress)
        result = evaluate(plan, service.scalable_target, self.state, self.store, situation)
        self._apply(at, result)
        return result

    def override(
        self,
        at: float,
        service: ServiceDescription,
        alarm_name: str,
        state: str,
        running: int,
        deployment_in_progress: bool,
    ) -> Evaluation | None:
        """A user's SetAlarmState: a change to ALARM runs the alarm's policies once, now; any state is kept until
        the next evaluation, which writes the real one back (the account already holds what the user set)."""
        plan = self._plan_of(service)
        if not any(a.alarm_name == alarm_name for a in plan.alarms):
            return None
        self._written[alarm_name] = _alarm_state(state)  # what the account holds now
        latest = _breaching_value(
            plan, alarm_name, self.store.latest(alarm_metric_key(plan.alarm(alarm_name)))
        )
        situation = Situation(at, service.desired_count, running, deployment_in_progress)
        result = act_on_alarm(
            plan,
            service.scalable_target,
            self.state,
            situation,
            alarm_name,
            _alarm_state(state),
            latest,
        )
        self.state = result.state
        self._record(at, result)
        return result

    # -- internals -------------------------------------------------------------------------------
    def _plan_of(self, service: ServiceDescription) -> ControlPlan:
        source = (
            service.alarms,
            service.step_policies,
            service.target_tracking_policies,
            service.resource_id,
        )
        if source != self._plan_source:
            self.plan, self._plan_source = ControlPlan.of(service), source
        return self.plan

    def _publish_cpu(self, now: float, service: ServiceDescription) -> None:
        datum = service_utilization(self.cpu_source.sample(), service.task_definition.vcpu)
        if datum is not None:
            self._publish(now, cpu_metric_key(service), datum, "Percent")

    def _publish_connections(self, now: float, service: ServiceDescription) -> None:
        key = connections_metric_key(service.task_definition)
        per_task = self.connection_source.connections() if key and self.connection_source else ()
        if key is not None and per_task:
            self._publish(now, key, StatisticSet.of(per_task), "Count")

    def _publish(self, now: float, key: MetricKey, datum: StatisticSet, unit: str) -> None:
        start = now - PERIOD  # the datum describes the minute that just ended
        self.store.put(key, start, datum)
        self.account.put_metric(key, datum, self.timestamp(start), unit)

    def _apply(self, at: float, result: Evaluation) -> None:
        self.state = result.state
        for evaluation in result.evaluations:
            if self._written.get(evaluation.alarm_name) == evaluation.state:
                continue
            alarm = self.plan.alarm(evaluation.alarm_name)
            try:
                self.account.set_alarm_state(
                    alarm.alarm_name,
                    evaluation.state,
                    evaluation.reason(alarm, self.timestamp),
                    evaluation.reason_data(alarm, self.timestamp),
                    self.timestamp(at),
                )
            except Exception:
                log.exception("could not write the state of alarm %s", alarm.alarm_name)
                continue
            self._written[alarm.alarm_name] = evaluation.state
        self._record(at, result)

    def _record(self, at: float, result: Evaluation) -> None:
        activity = result.activity
        if activity is None:
            return
        self.account.set_desired_count(activity.to_capacity)
        self.account.record_scaling_activity(
            activity.policy_name,
            activity.cause,
            activity.from_capacity,
            activity.to_capacity,
            self.timestamp(at),
        )
        self.activities.append(activity)
        log.info(
            "scaling activity: %s %d -> %d (%s)",
            activity.policy_name,
            activity.from_capacity,
            activity.to_capacity,
            activity.cause,
        )


def _alarm_state(value: str) -> AlarmState:
    if value not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
        raise ValueError(f"not an alarm state: {value!r}")
    return value  # type: ignore[return-value]


def _breaching_value(plan: ControlPlan, alarm_name: str, latest: float | None) -> float:
    """The metric value a policy run by SetAlarmState sees: the latest datum when it breaches, else the threshold
    (the user says the alarm is in ALARM; a step policy then takes its step at the threshold)."""
    alarm = plan.alarm(alarm_name)
    if latest is not None and breaches(latest, alarm.comparison_operator, alarm.threshold):
        return latest
    return alarm.threshold

"""The status snapshot: one JSON-ready dict that `chat-emulator status`, `status --json` and the live dashboard
all show, built from small interfaces (`StatusSources`), never from the supervisor itself.

What it holds, and where each figure comes from:

- `service`: desired count as the account holds it, running / pending as the ECS scheduler last wrote them,
  its deployments (id, status, rolloutState, counts), and `moto` (what `describe_services` on the emulator's
  endpoint answers: the same figures, read through the AWS API);
- `targets`: per target its health state and reason, open connections and in-flight requests (the load
  balancer counts them), `cpu_percent` (the task's CPUUtilization over about the last second, measured) and
  `messages_per_second` (what the target's worker accepted from its clients; null — "n/a" — until two readings
  exist or when it does not answer);
- `tasks`: every task as DescribeTasks answers it (lastStatus, desiredStatus, revision, stoppedReason), with the
  worker's URL, PID and CPU;
- `alarms`: every alarm as `describe_alarms` answers (state and reason);
- `clock_seconds` and `wall_time`: one moment on the emulator's clock and in real time (activities carry clock
  seconds; under `--time-scale` the two run at different speeds);
- `scaling`: whether autoscaling runs, the real seconds one emulated minute takes, the alarm states as last
  evaluated, the scalable target as `describe_scalable_targets` answers, and the recent scaling activities
  (time, cause alarm, policy, from, to), newest last.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from emulator.autoscaler import Autoscaler
from emulator.ecs.model import ServiceStatus
from emulator.model import ServiceDescription, TargetGroupSettings
from emulator.scaling import ScalingActivity

RECENT_ACTIVITIES = 20


class _Account(Protocol):
    def read_service(self) -> ServiceDescription: ...

    def client(self, service_name: str) -> Any: ...


class _Clock(Protocol):
    def now(self) -> float: ...


class _Loop(Protocol):
    @property
    def clock(self) -> _Clock: ...

    @property
    def status(self) -> ServiceStatus | None: ...

    @property
    def autoscaler(self) -> Autoscaler: ...


class _Target(Protocol):
    target_id: str
    url: str
    reason: str | None
    open_connections: int
    in_flight_requests: int

    @property
    def state(self) -> Any: ...


class _TargetGroup(Protocol):
    @property
    def settings(self) -> TargetGroupSettings: ...

    def describe(self) -> Sequence[Any]: ...


class _Telemetry(Protocol):
    @property
    def cpu_percent(self) -> Mapping[str, float]: ...

    @property
    def messages_per_second(self) -> Mapping[str, float]: ...


class _Workers(Protocol):
    def cpu_seconds(self) -> Mapping[str, float]: ...

    def endpoint(self, task_id: str) -> tuple[str, int] | None: ...

    def pid(self, task_id: str) -> int | None: ...


@dataclass(frozen=True)
class StatusSources:
    info: Mapping[str, Any]  # URLs, isolation, Redis, time scale: fixed at start
    account: _Account
    loop: _Loop
    target_group: _TargetGroup
    telemetry: _Telemetry
    cluster: _Workers
    autoscaling: bool


async def build_status(sources: StatusSources) -> dict[str, Any]:
    names = sources.account.read_service()
    moto = await asyncio.to_thread(read_moto, sources.account, names.cluster_name, names.service_name)
    # everything below is read at one moment, after the await: the control loop may tick while moto is read, and
    # a service count from before it beside targets from after it showed a task's target healthy while the
    # service did not yet count the task as running
    service = sources.account.read_service()
    status = sources.loop.status
    cpu, cpu_percent = sources.cluster.cpu_seconds(), dict(sources.telemetry.cpu_percent)
    return {
        **sources.info,
        # one moment on both clocks, so that a reader can show emulated times (activities) as real ones
        "clock_seconds": sources.loop.clock.now(),
        "wall_time": datetime.now(UTC).isoformat(),
        # the load balancer's own settings: --no-stickiness overrides the template's
        "stickiness_enabled": sources.target_group.settings.stickiness_enabled,
        "task_cpu_units": service.task_definition.cpu_units,
        "service": {
            "cluster_name": service.cluster_name,
            "service_name": service.service_name,
            "desired_count": service.desired_count,
            "running_count": status.running_count if status else 0,
            "pending_count": status.pending_count if status else 0,
            "deployments": [dataclasses.asdict(d) for d in status.deployments] if status else [],
            "moto": moto["service"],
        },
        "targets": [
            {
                "id": t.target_id,
                "url": t.url,
                "state": str(t.state),
                "reason": t.reason,
                "open_connections": t.open_connections,
                "in_flight_requests": t.in_flight_requests,
                "cpu_percent": cpu_percent.get(t.target_id),
                "messages_per_second": sources.telemetry.messages_per_second.get(t.target_id),
            }
            for t in sources.target_group.describe()
        ],
        "tasks": [_task_view(t, sources.cluster, cpu, cpu_percent) for t in status.tasks] if status else [],
        "alarms": moto["alarms"],
        "scaling": {
            "enabled": sources.autoscaling,
            "minute_seconds": 60.0 / float(sources.info.get("time_scale", 1.0)),
            "scalable_target": moto["scalable_target"],
            **scaling_view(sources.loop.autoscaler if sources.autoscaling else None),
        },
    }


def _task_view(
    task: Any, workers: _Workers, cpu: Mapping[str, float], cpu_percent: Mapping[str, float]
) -> dict[str, Any]:
    endpoint = workers.endpoint(task.task_id)
    return {
        **dataclasses.asdict(task),
        "url": f"http://{endpoint[0]}:{endpoint[1]}" if endpoint else None,
        "pid": workers.pid(task.task_id),
        "cpu_seconds": cpu.get(task.task_id),
        "cpu_percent": cpu_percent.get(task.task_id),
    }


def scaling_view(autoscaler: Autoscaler | None) -> dict[str, Any]:
    """The autoscaler's alarm states and its recent activities, JSON-ready."""
    if autoscaler is None:
        return {"alarm_states": {}, "activities": []}
    recent = list(autoscaler.activities)[-RECENT_ACTIVITIES:]
    return {
        "alarm_states": dict(autoscaler.alarm_states),
        "activities": [activity_view(a, autoscaler) for a in recent],
    }


def activity_view(activity: ScalingActivity, autoscaler: Autoscaler) -> dict[str, Any]:
    return {
        "time": autoscaler.timestamp(activity.time).isoformat(timespec="seconds"),
        "clock_seconds": activity.time,
        "cause": activity.cause,
        "policy": activity.policy_name,
        "from": activity.from_capacity,
        "to": activity.to_capacity,
        "description": activity.description,
    }


def read_moto(account: _Account, cluster_name: str, service_name: str) -> dict[str, Any]:
    """What the emulator's AWS endpoint answers: the ECS service, the alarms, the scalable target."""
    found = account.client("ecs").describe_services(cluster=cluster_name, services=[service_name])
    svc = found["services"][0] if found["services"] else {}
    described = account.client("cloudwatch").describe_alarms()
    targets = account.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{cluster_name}/{service_name}"]
    )["ScalableTargets"]
    return {
        "service": {k: svc.get(k) for k in ("desiredCount", "runningCount", "pendingCount")},
        "alarms": [
            {"name": a["AlarmName"], "state": a["StateValue"], "reason": a.get("StateReason", "")}
            for a in described.get("MetricAlarms", [])
        ],
        "scalable_target": {
            "min_capacity": targets[0]["MinCapacity"],
            "max_capacity": targets[0]["MaxCapacity"],
            "suspended_state": targets[0].get("SuspendedState", {}),
        }
        if targets
        else None,
    }

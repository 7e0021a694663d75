"""The status snapshot: one JSON-ready dict that `chat-emulator status`, `status --json` and the live
dashboard all show.

What it holds, and where each figure comes from:

- `service`: desired / running / pending as the emulator's cluster has them, and `moto` (what
  `describe_services` on the emulator's endpoint answers; the supervisor keeps the two equal);
- `targets`: per target its health state and reason, open connections and in-flight requests (the load
  balancer counts them), `cpu_percent` (the task's CPUUtilization over about the last second, measured)
  and `messages_per_second` (what the target's worker accepted from its clients, read from the worker's
  `GET /metrics` about once a second; null — "n/a" — until two readings exist or when it does not answer);
- `alarms`: every alarm as `describe_alarms` answers (state and reason);
- `scaling`: whether the autoscaler runs, the real seconds one emulated minute takes, the alarm states as
  the autoscaler last evaluated them, the scalable target as `describe_scalable_targets` answers, and the
  recent scaling activities (time, cause alarm, policy, from, to), newest last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.scaling import ScalingActivity

if TYPE_CHECKING:
    from emulator.autoscaler import Autoscaler
    from emulator.supervisor import Emulator

RECENT_ACTIVITIES = 20


async def build_status(emulator: Emulator) -> dict[str, Any]:
    cluster, target_group, service = emulator.cluster, emulator.target_group, emulator.service
    assert cluster is not None and target_group is not None and service is not None
    cpu, cpu_percent = cluster.cpu_seconds(), dict(emulator.cpu_percent)
    counts = cluster.counts()
    moto = await emulator.moto.call(read_moto, emulator.account, service.cluster_name, service.service_name)
    return {
        "load_balancer_url": emulator.load_balancer.url if emulator.load_balancer else None,
        "endpoint_url": getattr(emulator.account, "endpoint_url", None),
        "admin_url": emulator.admin.url if emulator.admin else None,
        "isolation": emulator.config.isolation,
        "cpu_attribution": emulator.launcher.cpu_attribution if emulator.launcher else None,
        "redis": emulator.redis.description,
        "stickiness_enabled": service.target_group.stickiness_enabled,
        "drop_cookies": emulator.config.drop_cookies,
        "time_scale": emulator.config.time_scale,
        "task_cpu_units": service.task_definition.cpu_units,
        "service": {
            "cluster_name": service.cluster_name,
            "service_name": service.service_name,
            "desired_count": cluster.desired_count,
            "running_count": counts.running,
            "pending_count": counts.pending,
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
                "messages_per_second": emulator.messages_per_second.get(t.target_id),
            }
            for t in target_group.describe()
        ],
        "tasks": [
            {**t.to_dict(), "cpu_seconds": cpu.get(t.task_id), "cpu_percent": cpu_percent.get(t.task_id)}
            for t in cluster.tasks
        ],
        "alarms": moto["alarms"],
        "scaling": {
            "enabled": emulator.autoscaler is not None,
            "minute_seconds": 60.0 / emulator.config.time_scale,
            "scalable_target": moto["scalable_target"],
            **scaling_view(emulator.autoscaler),
        },
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


def read_moto(account: Any, cluster_name: str, service_name: str) -> dict[str, Any]:
    """What the emulator's moto endpoint answers: the ECS service, the alarms, the scalable target."""
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

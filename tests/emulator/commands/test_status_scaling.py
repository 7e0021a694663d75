"""`chat-emulator status` at 80 columns: whole words ("connections", task ids, alarm and policy names), the
alarm and policy that set the desired count, the deployments, tasks that are not targets and why, the
autoscaler's activities (time, cause, policy, from, to) on one clock."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from emulator.commands.status import render

HIGH, LOW = "fargate-chat-service-high-cpu", "fargate-chat-service-low-cpu"
TT = "TargetTracking-service/fargate-chat-cluster-ECSCluster-NTMMUWFO1CZ5/chat-{}-fargate-chat-service-cpu-target"
ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/chat:{}"
TASK = "abcdef0123456789abcdef0123456789"


pytestmark = pytest.mark.usefixtures(
    "paris"
)  # real times shown in the local zone (tests/emulator/conftest.py)


def activity(cause: str, policy: str, before: int, after: int, minute: int) -> dict[str, Any]:
    return {
        "time": f"2026-11-28T19:{minute:02d}:00+00:00",
        "clock_seconds": 60.0 * minute,
        "cause": cause,
        "policy": policy,
        "from": before,
        "to": after,
        "description": "",
    }


def status(scaling: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "load_balancer_url": "http://127.0.0.1:8080",
        "endpoint_url": "http://127.0.0.1:5000",
        "isolation": "process",
        "cpu_attribution": "process: measured",
        "redis": "private redis-server",
        "stickiness_enabled": True,
        "drop_cookies": False,
        "time_scale": 1.0,
        "service": {
            "cluster_name": "fargate-chat-cluster-ECSCluster-NTMMUWFO1CZ5",
            "service_name": "chat",
            "desired_count": 3,
            "running_count": 3,
            "pending_count": 0,
            "deployments": [],
            "moto": {"desiredCount": 3, "runningCount": 3, "pendingCount": 0},
        },
        "targets": [
            {
                "id": TASK,
                "url": "http://127.0.0.1:40001",
                "state": "unhealthy",
                "reason": "Target.FailedHealthChecks",
                "open_connections": 1234,
                "in_flight_requests": 0,
                "cpu_percent": 91.7,
                "messages_per_second": None,
            }
        ],
        "tasks": [
            {
                "task_id": TASK,
                "task_definition_arn": ARN.format(3),
                "last_status": "RUNNING",
                "desired_status": "RUNNING",
                "cpu_seconds": 1.5,
            },
            {
                "task_id": "5eed" + "0" * 28,
                "task_definition_arn": ARN.format(3),
                "last_status": "STOPPED",
                "desired_status": "STOPPED",
                "stopped_reason": "Scaling activity initiated by (deployment ecs-svc/1)",
            },
        ],
        "alarms": [
            {"name": HIGH, "state": "ALARM", "reason": "Threshold Crossed: 1 datapoint [97.5] > 75.0"},
            {"name": LOW, "state": "OK", "reason": ""},
            {"name": TT.format("AlarmHigh"), "state": "INSUFFICIENT_DATA", "reason": ""},
            {"name": TT.format("AlarmLow"), "state": "INSUFFICIENT_DATA", "reason": ""},
        ],
        "scaling": scaling,
        **extra,
    }


SCALED: dict[str, Any] = {
    "enabled": True,
    "minute_seconds": 60.0,
    "scalable_target": {"min_capacity": 1, "max_capacity": 3, "suspended_state": {}},
    "alarm_states": {HIGH: "ALARM"},
    "activities": [
        activity(HIGH, "fargate-chat-service-scale-up", 1, 3, 31),
        activity(TT.format("AlarmHigh"), "fargate-chat-service-cpu-target", 3, 3, 32),
    ],
}


def lines_of(data: dict[str, Any], width: int = 80) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    render(data, console)
    return console.export_text().rstrip("\n").split("\n")


def test_status_fits_80_columns_without_cutting_names() -> None:
    lines = lines_of(status(SCALED))
    text = "\n".join(lines)

    assert max(len(line) for line in lines) <= 80
    [heading] = [line for line in lines if line.startswith("task ")]
    assert heading.split() == [
        "task",
        "revision",
        "worker",
        "URL",
        "health",
        "connections",
        "CPU",
        "s",
        "CPU",
        "%",
    ]
    [heading] = [line for line in lines if line.startswith("real time ")]
    assert heading.split()[-5:] == ["cause", "(alarm)", "policy", "from", "to"]
    [row] = [line for line in lines if line.startswith("abcdef01 ")]
    assert row.split() == ["abcdef01", "chat:3", "http://127.0.0.1:40001", "unhealthy", "1234", "1.50", "92"]
    assert "abcdef01 unhealthy: Target.FailedHealthChecks" in text
    for name in (HIGH, LOW, "…-AlarmHigh-fargate-chat-service-cpu-target", "…-AlarmLow-fargate-chat"):
        assert name in text
    # beside a target-tracking activity the names share the line: shortened, each still told apart
    [step] = [line for line in lines if line.startswith("20:31:00 ")]
    [tracking] = [line for line in lines if line.startswith("20:32:00 ")]
    assert step.split() == ["20:31:00", "fargate-chat-…-high-cpu", "scale-up", "1", "3"]
    assert tracking.split() == [
        "20:32:00",
        "…-AlarmHigh-…-cpu-target",
        "fargate-chat-service-cpu-target",
        "3",
        "3",
    ]


def test_status_lists_scaling_activities_with_cause_policy_and_counts() -> None:
    steps = [
        activity(HIGH, "fargate-chat-service-scale-up", 1, 3, 31),
        activity(LOW, "fargate-chat-service-scale-down", 3, 2, 40),
    ]
    lines = lines_of(status({**SCALED, "activities": steps}))
    text = "\n".join(lines)

    assert "one minute every 60 s; capacity 1..3" in text
    [row] = [line for line in lines if line.startswith("20:31:00 ")]  # 19:31 UTC, shown in the local zone
    assert row.split() == ["20:31:00", HIGH, "scale-up", "1", "3"]
    [row] = [line for line in lines if line.startswith("20:40:00 ")]
    assert row.split() == ["20:40:00", LOW, "scale-down", "3", "2"]
    assert any(line.split()[:1] == ["real"] for line in lines)  # the time column says which clock


def test_status_says_which_alarm_and_policy_set_the_desired_count() -> None:
    data = status(SCALED)
    data["scaling"] = {**SCALED, "activities": SCALED["activities"][:1]}
    text = "\n".join(lines_of(data))

    assert "desired 3 <- fargate-chat-service-high-cpu (scale-up) 20:31:00" in text


def test_status_shows_a_rolling_deployment_and_stopped_tasks_with_their_reason() -> None:
    data = status(SCALED)
    data["service"]["deployments"] = [
        {
            "status": "PRIMARY",
            "task_definition_arn": ARN.format(4),
            "desired_count": 3,
            "running_count": 1,
            "pending_count": 1,
            "failed_tasks": 0,
            "rollout_state": "IN_PROGRESS",
        },
        {
            "status": "ACTIVE",
            "task_definition_arn": ARN.format(3),
            "desired_count": 2,
            "running_count": 2,
            "pending_count": 0,
            "failed_tasks": 0,
            "rollout_state": "COMPLETED",
        },
    ]
    lines = lines_of(data)

    assert [
        "deployment",
        "PRIMARY",
        "chat:4",
        "IN_PROGRESS",
        "desired",
        "3",
        "running",
        "1",
        "pending",
        "1",
    ] in [line.split() for line in lines]
    assert [
        "deployment",
        "ACTIVE",
        "chat:3",
        "COMPLETED",
        "desired",
        "2",
        "running",
        "2",
        "pending",
        "0",
    ] in [line.split() for line in lines]
    assert "  5eed0000 chat:3 STOPPED: Scaling activity initiated by (deployment ecs-svc/1)" in lines


def test_under_time_scale_times_are_real_when_the_snapshot_reads_the_clock_else_labelled_emulated() -> None:
    scaled = {"time_scale": 60.0}
    reading = {**scaled, "clock_seconds": 1920.0, "wall_time": "2026-11-28T18:00:32+00:00"}

    emulated = lines_of(status(SCALED, **scaled))
    assert any(line.split()[:2] == ["emulated", "time"] for line in emulated)
    assert any(line.startswith("20:31:00 ") for line in emulated)
    # clock second 1920 was 18:00:32 UTC: the activity of clock second 1860 was one real second earlier
    real = lines_of(status(SCALED, **reading))
    assert any(line.startswith("19:00:31 ") for line in real)
    assert any(line.split()[:2] == ["real", "time"] for line in real)


def test_status_says_when_autoscaling_is_off_or_idle() -> None:
    assert "Autoscaling: off" in "\n".join(lines_of(status({"enabled": False, "activities": []})))
    idle: dict[str, Any] = {
        "enabled": True,
        "minute_seconds": 60.0,
        "scalable_target": None,
        "activities": [],
    }
    assert "none yet" in "\n".join(lines_of(status(idle)))

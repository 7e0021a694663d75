"""`chat-emulator status` shows the autoscaler's work: capacity, activities (time, cause, policy, from, to)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from emulator.commands.status import render


def status(scaling: dict[str, Any]) -> dict[str, Any]:
    return {
        "load_balancer_url": "http://127.0.0.1:8080",
        "endpoint_url": "http://127.0.0.1:5000",
        "isolation": "process",
        "cpu_attribution": "process: measured",
        "redis": "private redis-server",
        "stickiness_enabled": True,
        "drop_cookies": False,
        "service": {
            "cluster_name": "chat",
            "service_name": "chat-svc",
            "desired_count": 3,
            "running_count": 3,
            "pending_count": 0,
            "moto": {"desiredCount": 3, "runningCount": 3, "pendingCount": 0},
        },
        "targets": [
            {
                "id": "abcdef0123456789",
                "url": "http://127.0.0.1:4001",
                "state": "healthy",
                "reason": None,
                "open_connections": 3,
                "in_flight_requests": 0,
                "cpu_percent": 91.7,
                "messages_per_second": None,
            }
        ],
        "tasks": [{"task_id": "abcdef0123456789", "cpu_seconds": 1.5}],
        "alarms": [{"name": "chat-cpu-high", "state": "ALARM", "reason": "Threshold Crossed: 1 datapoint"}],
        "scaling": scaling,
    }


def text_of(data: dict[str, Any]) -> str:
    console = Console(width=160, color_system=None, force_terminal=False)
    with console.capture() as captured:
        render(data, console)
    return captured.get()


def test_status_lists_scaling_activities_with_cause_policy_and_counts() -> None:
    text = text_of(
        status(
            {
                "enabled": True,
                "minute_seconds": 1.0,
                "scalable_target": {"min_capacity": 1, "max_capacity": 3, "suspended_state": {}},
                "alarm_states": {"chat-cpu-high": "ALARM"},
                "activities": [
                    {
                        "time": "2026-11-28T19:31:22+00:00",
                        "clock_seconds": 120.0,
                        "cause": "chat-cpu-high",
                        "policy": "ScaleUpPolicy",
                        "from": 1,
                        "to": 3,
                        "description": "+2 ScaleUpPolicy",
                    }
                ],
            }
        )
    )

    assert "one minute every 1 s; capacity 1..3" in text
    [row] = [line for line in text.splitlines() if "2026-11-28T19:31:22" in line]
    assert [cell.strip() for cell in row.strip("│┃| ").split("│")] == [
        "2026-11-28T19:31:22+00:00",
        "chat-cpu-high",
        "ScaleUpPolicy",
        "1",
        "3",
    ]
    assert "92" in text and "Threshold Crossed" in text


def test_status_says_when_autoscaling_is_off_or_idle() -> None:
    assert "Autoscaling: off" in text_of(status({"enabled": False, "activities": []}))
    idle = {"enabled": True, "minute_seconds": 60.0, "scalable_target": None, "activities": []}
    assert "none yet" in text_of(status(idle))

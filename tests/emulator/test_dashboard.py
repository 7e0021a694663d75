"""The live dashboard, rendered from a fixed status snapshot to an 80-column console: it fits 80x24."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from emulator.dashboard import MAX_TARGET_ROWS, render_dashboard


def snapshot(targets: int = 3) -> dict[str, Any]:
    states = ["healthy", "healthy", "initial", "draining", "unhealthy"]
    return {
        "load_balancer_url": "http://127.0.0.1:8080",
        "time_scale": 60.0,
        "service": {
            "cluster_name": "fargate-chat-cluster-ECSCluster-NTMMUWFO1CZ5",
            "service_name": "chat",
            "desired_count": 3,
            "running_count": 2,
            "pending_count": 1,
            "moto": {"desiredCount": 3, "runningCount": 2, "pendingCount": 1},
        },
        "targets": [
            {
                "id": f"{i:02d}c2fc1659153c844185c94b2c6c6d2c81",
                "url": f"http://127.0.0.1:{40000 + i}",
                "state": states[i % len(states)],
                "reason": None,
                "open_connections": 40 - i,
                "in_flight_requests": 0,
                "cpu_percent": 97.5 if i == 0 else None,
                "messages_per_second": None,
            }
            for i in range(targets)
        ],
        "alarms": [
            {"name": "fargate-chat-service-high-cpu", "state": "ALARM", "reason": "Threshold Crossed"},
            {"name": "fargate-chat-service-low-cpu", "state": "OK", "reason": ""},
        ],
        "scaling": {
            "enabled": True,
            "minute_seconds": 1.0,
            "scalable_target": {"min_capacity": 1, "max_capacity": 10, "suspended_state": {}},
            "alarm_states": {"fargate-chat-service-high-cpu": "ALARM"},
            "activities": [
                {
                    "time": f"2026-11-28T19:3{i}:22+00:00",
                    "clock_seconds": 60.0 * i,
                    "cause": "fargate-chat-service-high-cpu",
                    "policy": f"ScaleUpPolicy{i}",
                    "from": i + 1,
                    "to": i + 2,
                    "description": "+1 ScaleUpPolicy",
                }
                for i in range(5)
            ],
        },
    }


def rendered(status: dict[str, Any]) -> list[str]:
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    console.print(render_dashboard(status))
    return console.export_text().rstrip("\n").split("\n")


def test_dashboard_shows_counts_alarms_targets_and_activities() -> None:
    lines = rendered(snapshot())
    text = "\n".join(lines)

    assert "desired 3  running 2  pending 1  (min 1, max 10)" in text
    assert "fargate-chat-service-high-cpu ALARM" in text and "fargate-chat-service-low-cpu OK" in text
    [first] = [line for line in lines if "00c2fc165915" in line]
    assert first.split()[1:] == ["127.0.0.1:40000", "healthy", "40", "98", "n/a"]
    [third] = [line for line in lines if "02c2fc165915" in line]
    assert third.split()[2:] == ["initial", "38", "n/a", "n/a"]
    # the three newest activities, oldest of them first; the two older ones are not shown
    assert "19:34:22 ScaleUpPolicy4 5 -> 6 (fargate-chat-service-high-cpu)" in text
    assert "ScaleUpPolicy2" in text and "ScaleUpPolicy1" not in text


def test_a_full_service_fits_an_80x24_terminal() -> None:
    """MaxCapacity 10 targets, long names, five activities: no line over 80 columns, at most 24 rows."""
    lines = rendered(snapshot(targets=12))

    assert max(len(line) for line in lines) <= 80
    assert len(lines) <= 24
    assert sum("c2fc165915" in line for line in lines) == MAX_TARGET_ROWS
    assert any("+2 more" in line for line in lines)


def test_without_autoscaling_or_targets_it_says_so() -> None:
    status = snapshot(targets=0)
    status["scaling"] = {"enabled": False, "scalable_target": None, "activities": []}
    text = "\n".join(rendered(status))

    assert "autoscaling off" in text
    assert "(no targets)" in text
    assert "recent scaling activities: none yet" in text

"""The live dashboard, rendered from fixed status snapshots to an 80x24 console: it fits, keeps the names that
matter whole (or shortened around the part that tells them apart), says which alarm and policy set the desired
count, shows a rolling deployment, shows one clock (real time, local zone), and redraws in place."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from emulator.dashboard import (
    MAX_TARGET_ROWS,
    ClockReading,
    abbreviate,
    render_dashboard,
    run_dashboard,
    short_task_id,
)

ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/chat:{}"
HIGH, LOW = "fargate-chat-service-high-cpu", "fargate-chat-service-low-cpu"
TT = "TargetTracking-service/fargate-chat-cluster-ECSCluster-NTMMUWFO1CZ5/chat-{}-fargate-chat-service-cpu-target"
# the clock read at 19:35:00 UTC, clock second 300, one emulated minute per real second
READING = ClockReading(300.0, datetime(2026, 11, 28, 19, 35, 0, tzinfo=UTC), 60.0)


pytestmark = pytest.mark.usefixtures(
    "paris"
)  # real times shown in the local zone (tests/emulator/conftest.py)


def snapshot(targets: int = 3) -> dict[str, Any]:
    states = ["healthy", "healthy", "initial", "draining", "unhealthy"]
    ids = [f"{i:02d}c2fc1659153c844185c94b2c6c6d2c81" for i in range(targets)]
    return {
        "load_balancer_url": "http://127.0.0.1:8080",
        "time_scale": 60.0,
        "service": {
            "cluster_name": "fargate-chat-cluster-ECSCluster-NTMMUWFO1CZ5",
            "service_name": "chat",
            "desired_count": 6,
            "running_count": 2,
            "pending_count": 1,
            "deployments": [],
            "moto": {"desiredCount": 6, "runningCount": 2, "pendingCount": 1},
        },
        "targets": [
            {
                "id": task_id,
                "url": f"http://127.0.0.1:{40000 + i}",
                "state": states[i % len(states)],
                "reason": None,
                "open_connections": 40 - i,
                "in_flight_requests": 0,
                "cpu_percent": 97.5 if i == 0 else None,
                "messages_per_second": None,
            }
            for i, task_id in enumerate(ids)
        ],
        "tasks": [
            {"task_id": task_id, "task_definition_arn": ARN.format(3), "last_status": "RUNNING"}
            for task_id in ids
        ],
        "alarms": [
            {"name": HIGH, "state": "ALARM", "reason": "Threshold Crossed"},
            {"name": LOW, "state": "OK", "reason": ""},
        ],
        "scaling": {
            "enabled": True,
            "minute_seconds": 1.0,
            "scalable_target": {"min_capacity": 1, "max_capacity": 10, "suspended_state": {}},
            "alarm_states": {HIGH: "ALARM"},
            "activities": [
                {  # on the emulated clock: one minute apart, i.e. one real second apart
                    "time": f"2026-11-28T19:3{i}:00+00:00",
                    "clock_seconds": 60.0 * i,
                    "cause": HIGH,
                    "policy": "fargate-chat-service-scale-up",
                    "from": i + 1,
                    "to": i + 2,
                    "description": "+1 ScaleUpPolicy",
                }
                for i in range(5)
            ],
        },
    }


def rolling(status: dict[str, Any]) -> dict[str, Any]:
    """A rolling deployment from chat:3 to chat:4 half-way through."""
    status["service"]["deployments"] = [
        {
            "deployment_id": "ecs-svc/2",
            "status": "PRIMARY",
            "task_definition_arn": ARN.format(4),
            "desired_count": 6,
            "pending_count": 2,
            "running_count": 1,
            "failed_tasks": 0,
            "rollout_state": "IN_PROGRESS",
        },
        {
            "deployment_id": "ecs-svc/1",
            "status": "ACTIVE",
            "task_definition_arn": ARN.format(3),
            "desired_count": 5,
            "pending_count": 0,
            "running_count": 5,
            "failed_tasks": 0,
            "rollout_state": "COMPLETED",
        },
    ]
    return status


def rendered(status: dict[str, Any], reading: ClockReading | None = READING) -> list[str]:
    console = Console(width=80, height=24, record=True, file=io.StringIO(), color_system=None)
    console.print(render_dashboard(status, reading=reading))
    return console.export_text().rstrip("\n").split("\n")


def test_dashboard_shows_counts_alarms_targets_and_activities() -> None:
    lines = rendered(snapshot())
    text = "\n".join(lines)

    assert "desired 6  running 2  pending 1  (min 1, max 10)" in text
    assert f"{HIGH} ALARM  {LOW} OK" in text
    [first] = [line for line in lines if line.startswith("00c2fc16 ")]
    assert first.split() == ["00c2fc16", "chat:3", "127.0.0.1:40000", "healthy", "40", "98", "n/a"]
    [third] = [line for line in lines if line.startswith("02c2fc16 ")]
    assert third.split()[3:] == ["initial", "38", "n/a", "n/a"]
    # the three newest activities, oldest of them first, at the real time they happened (Paris time)
    assert "20:34:59  5 -> 6  fargate-chat-service-high-cpu (scale-up)" in text
    assert "3 -> 4" in text and "2 -> 3" not in text


def test_the_desired_count_names_the_alarm_and_policy_that_set_it() -> None:
    text = "\n".join(rendered(snapshot()))

    assert "desired 6 <- fargate-chat-service-high-cpu (scale-up) 20:34:59" in text


def test_a_desired_count_changed_since_the_last_activity_says_so() -> None:
    status = snapshot()
    status["service"]["desired_count"] = 4  # aws ecs update-service --desired-count 4
    text = "\n".join(rendered(status))

    assert "desired 6 <-" not in text
    assert "autoscaling set 6 <- fargate-…-high-cpu (scale-up) 20:34:59, since changed to 4" in text


def test_a_scale_in_names_the_low_cpu_alarm() -> None:
    """Why did my workers disappear: the low-CPU alarm's policy set desired back to MinCapacity."""
    status = snapshot()
    status["service"]["desired_count"] = 2
    status["scaling"]["activities"] = [
        {
            "time": "2026-11-28T19:34:00+00:00",
            "clock_seconds": 240.0,
            "cause": LOW,
            "policy": "fargate-chat-service-scale-down",
            "from": 4,
            "to": 2,
        }
    ]
    text = "\n".join(rendered(status))

    assert "desired 2 <- fargate-chat-service-low-cpu (scale-down) 20:34:59" in text


def test_a_rolling_deployment_shows_primary_and_active_with_rollout_state_and_counts() -> None:
    lines = rendered(rolling(snapshot()))

    [primary] = [line for line in lines if "PRIMARY" in line]
    [active] = [line for line in lines if "ACTIVE" in line]
    assert primary.split() == [
        "deployment",
        "PRIMARY",
        "chat:4",
        "IN_PROGRESS",
        "desired",
        "6",
        "running",
        "1",
        "pending",
        "2",
    ]
    assert active.split() == [
        "deployment",
        "ACTIVE",
        "chat:3",
        "COMPLETED",
        "desired",
        "5",
        "running",
        "5",
        "pending",
        "0",
    ]


def test_one_clock_real_time_labelled_with_the_time_scale() -> None:
    [header] = rendered(snapshot())[:1]

    assert header.startswith("fargate-chat emulator  http://127.0.0.1:8080")
    assert header.endswith("emulated x60 · real time 20:35:00")


def test_without_a_clock_reading_activity_times_are_labelled_emulated() -> None:
    text = "\n".join(rendered(snapshot(), reading=None))

    assert "times shown are emulated" in text
    assert "20:34:00 emulated  5 -> 6" in text  # 19:34 UTC on the emulated clock, shown in Paris time


def test_at_time_scale_1_activity_times_are_real_without_a_reading() -> None:
    status = snapshot()
    status["time_scale"] = 1.0
    text = "\n".join(rendered(status, reading=None))

    assert "emulated" not in text
    assert "20:34:00  5 -> 6" in text


def test_a_full_service_fits_an_80x24_terminal() -> None:
    """MaxCapacity 10 targets and more, a rolling deployment, four alarms with target tracking's long names,
    five activities: no line over 80 columns, at most 24 rows, every alarm told apart."""
    status = rolling(snapshot(targets=12))
    status["alarms"] += [
        {"name": TT.format("AlarmHigh"), "state": "INSUFFICIENT_DATA", "reason": ""},
        {"name": TT.format("AlarmLow"), "state": "INSUFFICIENT_DATA", "reason": ""},
    ]
    lines = rendered(status)
    text = "\n".join(lines)

    assert max(len(line) for line in lines) <= 80
    assert len(lines) <= 24
    assert HIGH in text and LOW in text
    assert "…-AlarmHigh-fargate-chat-service-cpu-target INSUFFICIENT_DATA" in text
    assert "…-AlarmLow-fargate-chat-service-cpu-target INSUFFICIENT_DATA" in text
    shown = sum(bool(re.match(r"\d\dc2fc16 ", line)) for line in lines)
    assert 0 < shown <= MAX_TARGET_ROWS
    assert any(f"+{12 - shown} more" in line for line in lines)


def test_ten_targets_show_whole_when_they_fit() -> None:
    lines = rendered(snapshot(targets=MAX_TARGET_ROWS))

    assert len(lines) <= 24
    assert sum(bool(re.match(r"\d\dc2fc16 ", line)) for line in lines) == MAX_TARGET_ROWS
    assert not any("more" in line for line in lines)


def test_without_autoscaling_or_targets_it_says_so() -> None:
    status = snapshot(targets=0)
    status["scaling"] = {"enabled": False, "scalable_target": None, "activities": []}
    text = "\n".join(rendered(status))

    assert "autoscaling off" in text
    assert "(no targets)" in text
    assert "recent scaling activities: none yet" in text
    assert "<-" not in text


@pytest.mark.parametrize(
    ("name", "width", "shown"),
    [
        (HIGH, 40, HIGH),
        (HIGH, 20, "fargate-…-high-cpu"),
        (LOW, 20, "fargate-…-low-cpu"),
        (HIGH, 12, "…-high-cpu"),
        (TT.format("AlarmHigh"), 50, "…-AlarmHigh-fargate-chat-service-cpu-target"),
        (TT.format("AlarmLow"), 24, "…-AlarmLow-…-cpu-target"),
        (TT.format("AlarmHigh"), 14, "…-AlarmHigh-…"),
    ],
)
def test_alarm_names_are_shortened_around_the_part_that_tells_them_apart(
    name: str, width: int, shown: str
) -> None:
    group = [HIGH, LOW] if "TargetTracking" not in name else [TT.format("AlarmHigh"), TT.format("AlarmLow")]
    assert abbreviate(name, width, group) == shown
    assert len(shown) <= width


def test_task_ids_are_shown_as_the_ecs_console_shows_them() -> None:
    ids = ["0123456789abcdef0123456789abcdef", "0123456799abcdef0123456789abcdef", "fedcba98" + "0" * 24]

    assert short_task_id(ids[2], ids) == "fedcba98"  # the first 8 hex digits
    assert short_task_id(ids[0], ids) == "012345678"  # one more where another id starts the same
    assert short_task_id(ids[1], ids) == "012345679"


# -- in place -------------------------------------------------------------------------------------------
CSI = re.compile(r"\x1b\[(\??)(\d*)([A-Za-z])")


class Terminal:
    """Just enough of a VT100 for rich Live's output: text, CR, LF (scrolling into a scrollback), cursor up,
    erase line. What a user sees on screen and above it after the dashboard has drawn."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.rows = [[" "] * width for _ in range(height)]
        self.scrollback: list[str] = []
        self.row = self.col = 0

    def feed(self, data: str) -> None:
        i = 0
        while i < len(data):
            if match := CSI.match(data, i):
                private, count, final = match.groups()
                if not private and final == "A":
                    self.row = max(0, self.row - int(count or 1))
                elif not private and final == "K":
                    self.rows[self.row] = [" "] * self.width
                i = match.end()
                continue
            char, i = data[i], i + 1
            if char == "\n":
                self._line_feed()
            elif char == "\r":
                self.col = 0
            else:
                if self.col == self.width:
                    self._line_feed()
                self.rows[self.row][self.col], self.col = char, self.col + 1

    def _line_feed(self) -> None:
        self.row, self.col = self.row + 1, 0
        if self.row == self.height:
            self.scrollback.append("".join(self.rows.pop(0)).rstrip())
            self.rows.append([" "] * self.width)
            self.row = self.height - 1

    def lines(self) -> list[str]:
        return self.scrollback + ["".join(row).rstrip() for row in self.rows]


class FourTicks:
    """A clock that lets the dashboard refresh four times, then cancels it."""

    def __init__(self) -> None:
        self.seconds, self.left = 0.0, 4

    def now(self) -> float:
        return self.seconds

    async def sleep(self, seconds: float) -> None:
        self.seconds, self.left = self.seconds + seconds, self.left - 1
        if not self.left:
            raise asyncio.CancelledError


async def test_the_dashboard_redraws_in_place_on_an_80x24_terminal() -> None:
    """Four refreshes of a screen-filling dashboard with a warning logged in between: one header on the
    screen and in the scrollback, the warning above it, the newest counts shown."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, height=24, color_system=None)
    console.print("Logs: /tmp/emulator.log")
    refreshes = 0

    async def status() -> dict[str, Any]:
        nonlocal refreshes
        refreshes += 1
        if refreshes == 2:
            console.print("WARNING emulator.cluster: worker 01c2fc16 exited")
        data = rolling(snapshot(targets=12))
        data["alarms"] += [  # one more line than fits beside ten targets: the frame must give way
            {"name": TT.format(kind), "state": "INSUFFICIENT_DATA", "reason": ""}
            for kind in ("AlarmHigh", "AlarmLow")
        ]
        data["service"]["running_count"] = refreshes
        return data

    with pytest.raises(asyncio.CancelledError):
        await run_dashboard(status, console, FourTicks(), refresh_seconds=60.0)
    terminal = Terminal(80, 24)
    terminal.feed(out.getvalue())
    lines = terminal.lines()

    assert refreshes == 4
    assert sum(line.startswith("fargate-chat emulator") for line in lines) == 1
    assert sum("running 4  pending 1" in line for line in lines) == 1
    assert lines.index("WARNING emulator.cluster: worker 01c2fc16 exited") < lines.index(
        next(line for line in lines if line.startswith("fargate-chat emulator"))
    )
    assert "Logs: /tmp/emulator.log" in lines

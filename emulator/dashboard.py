"""The live dashboard of `chat-emulator up`: one screen, refreshed about once a second, fits 80x24.

    render_dashboard(status)                       # a rich renderable from one status snapshot
    await run_dashboard(emulator.status, console)  # rich Live until cancelled

It shows what `chat-emulator status --json` holds (see `emulator.snapshot`): the service's desired /
running / pending counts and its scalable target's min / max, every alarm's state, each target's health
state, open connections, CPU (the task's CPUUtilization over the last second, 100 % = the task
definition's vCPU) and messages/s ("n/a": nothing observable counts messages per target), and the
most recent scaling activities. Targets beyond what fits are summarised in one line.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from emulator.clock import Clock

log = logging.getLogger(__name__)

MAX_TARGET_ROWS = 10
MAX_ACTIVITY_ROWS = 3
HEALTH_STYLES = {"healthy": "green", "initial": "yellow", "unhealthy": "red", "draining": "magenta"}
ALARM_STYLES = {"OK": "green", "ALARM": "bold red", "INSUFFICIENT_DATA": "yellow"}


def render_dashboard(status: dict[str, Any]) -> RenderableType:
    """One screen (at most 24 rows of 80 columns) from a status snapshot."""
    return Group(
        _header(status),
        _alarms(status),
        _targets(status),
        _activities(status),
    )


def _header(status: dict[str, Any]) -> Text:
    service, scaling = status["service"], status.get("scaling") or {}
    target = scaling.get("scalable_target") or {}
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("fargate-chat emulator ", style="bold")
    text.append(f"{status.get('load_balancer_url')}  x{status.get('time_scale', 1):g} time\n")
    text.append(f"service {service['service_name']}: ")
    text.append(f"desired {service['desired_count']}", style="bold")
    text.append(f"  running {service['running_count']}  pending {service['pending_count']}")
    if target:
        text.append(f"  (min {target['min_capacity']}, max {target['max_capacity']})")
    if not scaling.get("enabled", False):
        text.append("  autoscaling off", style="yellow")
    return text


def _alarms(status: dict[str, Any]) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("alarms: ")
    for i, alarm in enumerate(status.get("alarms", [])):
        text.append("  " if i else "")
        text.append(f"{_short_alarm(alarm['name'])} ")
        text.append(alarm["state"], style=ALARM_STYLES.get(alarm["state"], ""))
    if not status.get("alarms"):
        text.append("none")
    return text


def _short_alarm(name: str) -> str:
    return name if len(name) <= 32 else f"...{name[-29:]}"


def _targets(status: dict[str, Any]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, title_justify="left")
    for column, justify in (
        ("target", "left"),
        ("worker", "left"),
        ("health", "left"),
        ("conns", "right"),
        ("CPU %", "right"),
        ("msg/s", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    targets = status.get("targets", [])
    for target in targets[:MAX_TARGET_ROWS]:
        table.add_row(
            target["id"][:12],
            target["url"].removeprefix("http://"),
            Text(target["state"], style=HEALTH_STYLES.get(target["state"], "")),
            str(target["open_connections"]),
            _figure(target.get("cpu_percent"), "{:.0f}"),
            _figure(target.get("messages_per_second"), "{:.1f}"),
        )
    if len(targets) > MAX_TARGET_ROWS:
        table.add_row(f"+{len(targets) - MAX_TARGET_ROWS} more", "", "", "", "", "")
    if not targets:
        table.add_row("(no targets)", "", "", "", "", "")
    return table


def _figure(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


def _activities(status: dict[str, Any]) -> Text:
    activities = (status.get("scaling") or {}).get("activities", [])
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("recent scaling activities", style="bold")
    if not activities:
        text.append(": none yet")
    for activity in activities[-MAX_ACTIVITY_ROWS:]:
        clock = activity["time"][11:19] if len(activity["time"]) >= 19 else activity["time"]
        text.append(f"\n{clock} {activity['policy']} {activity['from']} -> {activity['to']}")
        text.append(f" ({_short_alarm(activity['cause'])})", style="dim")
    return text


async def run_dashboard(
    status: Callable[[], Awaitable[dict[str, Any]]],
    console: Console,
    clock: Clock,
    *,
    refresh_seconds: float = 1.0,
) -> None:
    """Redraw the dashboard from a fresh snapshot every `refresh_seconds` of clock time until cancelled."""
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while True:
            try:
                live.update(render_dashboard(await status()), refresh=True)
            except Exception:
                log.exception("dashboard refresh failed")
            await clock.sleep(refresh_seconds)

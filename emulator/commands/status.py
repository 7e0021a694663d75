"""`chat-emulator status`: what a running emulator is doing (counts, deployments, targets, tasks, alarms,
scaling activities), readable in an 80-column terminal.

Reads the admin address from the state file `chat-emulator up` wrote (or `--url`). The human view follows the
ECS console's conventions: a task is named by the first 8 hex digits of its id, a task definition as
`family:revision`, a deployment as PRIMARY / ACTIVE with its rolloutState and counts (DescribeServices'
`deployments[]`); the desired count says which alarm and policy set it (the latest scaling activity's cause,
as `describe-scaling-activities` words it). Names that matter (alarms, policies, task ids, the column
"connections") are never cut: a name too long for its column is shortened around the words that tell it from
the others (`emulator.dashboard.abbreviate`). Times are real (local zone, as in the log files) when the
snapshot says where the emulated clock stands (`clock_seconds`, `wall_time`), else labelled "emulated".
`--json` prints the snapshot as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from emulator.dashboard import (
    ALARM_STYLES,
    abbreviate,
    activity_time,
    clock_text,
    deployment_lines,
    policy_label,
    reading_of,
    revision,
    scaling_cause,
    short_task_id,
)
from emulator.supervisor import default_state_file

NAME = "status"
HELP = "Show a running emulator's targets, desired/running/pending counts, alarms and scaling activities."
NUMBERS = ("connections", "CPU s", "CPU %")
MAX_NAME = 44  # an alarm name longer than this is shortened (target-tracking alarms: ~95 characters)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the raw JSON")
    parser.add_argument("--url", default=None, help="admin URL (default: from the state file)")
    parser.add_argument("--state-file", type=Path, default=None, help=f"default: {default_state_file()}")


def admin_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url).rstrip("/")
    path = args.state_file or default_state_file()
    try:
        return str(json.loads(path.read_text())["admin_url"]).rstrip("/")
    except (OSError, ValueError, KeyError) as exc:
        raise LookupError(
            f"no running emulator found ({path}: {exc}); start one with `chat-emulator up`"
        ) from None


def fetch(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/status", timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def run(args: argparse.Namespace) -> int:
    try:
        status = fetch(admin_url(args))
    except (LookupError, urllib.error.URLError, OSError) as exc:
        print(f"chat-emulator status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        render(status, Console())
    return 0


def render(status: dict[str, Any], console: Console) -> None:
    """The human view of a snapshot on `console`, fitted to its width."""
    width = console.width
    service = status["service"]
    console.print(f"Load balancer [bold]{status['load_balancer_url']}[/]", highlight=False)
    console.print(f"AWS endpoint  {status.get('endpoint_url')}", highlight=False)
    console.print(f"Service {service['service_name']} in cluster {service['cluster_name']}", highlight=False)
    console.print(
        f"  desired {service['desired_count']}, running {service['running_count']}, "
        f"pending {service['pending_count']}{_moto(service)}",
        highlight=False,
    )
    reading = reading_of(status)
    cause = scaling_cause(status, reading, width)
    if cause:
        console.print(Text(cause, style="cyan"))
    for line in deployment_lines(status):
        console.print(line)
    console.print(
        f"Isolation {status.get('isolation')}; stickiness {'on' if status.get('stickiness_enabled') else 'off'}"
        f"{'; dropping cookies' if status.get('drop_cookies') else ''}; Redis: {status.get('redis')}",
        highlight=False,
    )
    _targets(status, console)
    _tasks_not_serving(status, console)
    console.print(f"CPU: {status.get('cpu_attribution')}", highlight=False)
    _alarms(status, console)
    _scaling(status, console)


def _moto(service: dict[str, Any]) -> str:
    """What describe-services on the emulator's endpoint answers, when it differs from the figures above."""
    moto = service.get("moto") or {}
    ours = (service["desired_count"], service["running_count"], service["pending_count"])
    theirs = (moto.get("desiredCount"), moto.get("runningCount"), moto.get("pendingCount"))
    if not moto or theirs == ours:
        return ""
    return f" (describe-services: desired {theirs[0]}, running {theirs[1]}, pending {theirs[2]})"


def _targets(status: dict[str, Any], console: Console) -> None:
    tasks = {t.get("task_id"): t for t in status.get("tasks") or []}
    targets = status.get("targets") or []
    ids = [str(t["id"]) for t in targets]
    revisions = [revision((tasks.get(t["id"]) or {}).get("task_definition_arn")) for t in targets]
    table = Table(
        title="Targets",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),  # with the box's one-space rule: two spaces between columns
        pad_edge=False,
        title_justify="left",
    )
    columns = ["task", "revision", "worker URL", "health", "connections", "CPU s", "CPU %"]
    if not any(revisions):
        columns.remove("revision")
    for column in columns:
        table.add_column(column, no_wrap=True, justify="right" if column in NUMBERS else "left")
    reasons = []
    for t, rev in zip(targets, revisions, strict=True):
        task = tasks.get(t["id"]) or {}
        seconds, percent = task.get("cpu_seconds"), t.get("cpu_percent")
        name = short_task_id(str(t["id"]), ids)
        cells = {
            "task": name,
            "revision": rev,
            "worker URL": str(t["url"]),
            "health": str(t["state"]),
            "connections": str(t["open_connections"]),
            "CPU s": f"{seconds:.2f}" if seconds is not None else "",
            "CPU %": f"{percent:.0f}" if percent is not None else "n/a",
        }
        table.add_row(*(cells[c] for c in columns))
        if t.get("reason"):
            reasons.append(f"  {name} {t['state']}: {t['reason']}")
    if not targets:
        table.add_row("(none)", *[""] * (len(columns) - 1))
    console.print(table)
    for line in reasons:
        console.print(line, highlight=False)


def _tasks_not_serving(status: dict[str, Any], console: Console) -> None:
    """Tasks that are not (or no longer) targets: starting, or stopped, with ECS's stoppedReason."""
    registered = {t["id"] for t in status.get("targets") or []}
    tasks = [t for t in status.get("tasks") or [] if t.get("task_id") not in registered]
    tasks = [t for t in tasks if t.get("last_status")]
    if not tasks:
        return
    ids = [str(t["task_id"]) for t in status.get("tasks") or []]
    console.print("Tasks not behind the load balancer", style="italic")
    for t in tasks:
        line = f"  {short_task_id(str(t['task_id']), ids)} {revision(t.get('task_definition_arn'))} "
        line += f"{t['last_status']}"
        if t.get("desired_status") and t["desired_status"] != t["last_status"]:
            line += f" (desired {t['desired_status']})"
        if t.get("stopped_reason"):
            line += f": {t['stopped_reason']}"
        console.print(line, highlight=False)


def _alarms(status: dict[str, Any], console: Console) -> None:
    alarms = status.get("alarms") or []
    names = [str(a["name"]) for a in alarms]
    table = Table(title="Alarms", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
    table.add_column("alarm", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("reason")
    for alarm, name in zip(alarms, names, strict=True):
        state = str(alarm["state"])
        shown = abbreviate(name, MAX_NAME, names)
        table.add_row(shown, Text(state, style=ALARM_STYLES.get(state, "")), alarm.get("reason") or "")
    if not alarms:
        table.add_row("(none)", "", "")
    console.print(table)


def _scaling(status: dict[str, Any], console: Console) -> None:
    scaling = status.get("scaling")
    if not scaling:
        return
    if not scaling.get("enabled"):
        console.print("Autoscaling: off (--no-autoscaling)")
        return
    target = scaling.get("scalable_target") or {}
    console.print(
        f"Autoscaling: one minute every {scaling['minute_seconds']:g} s; "
        f"capacity {target.get('min_capacity')}..{target.get('max_capacity')}",
        highlight=False,
    )
    activities = scaling.get("activities") or []
    reading, scale = reading_of(status), float(status.get("time_scale") or 1.0)
    real = all(activity_time(a, reading, scale)[1] for a in activities)
    clock = "real time" if real else "emulated time"
    table = Table(
        title="Scaling activities",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        title_justify="left",
    )
    for column in (clock, "cause (alarm)", "policy", "from", "to"):
        table.add_column(column, no_wrap=True, justify="right" if column in ("from", "to") else "left")
    # the two names share what the other columns leave; a policy loses its stack-name prefix first
    room = console.width - len(clock) - len("from") - len("to") - 2 * 4  # 4 gaps of two spaces
    policies = [str(a["policy"]) for a in activities]
    if activities and max(len(str(a["cause"])) for a in activities) + max(map(len, policies)) > room:
        policies = [policy_label(str(a["policy"]), str(a["cause"])) for a in activities]
    policy_width = min(max(map(len, policies), default=0), max(room // 2, room - 26))
    alarms = [str(a["name"]) for a in status.get("alarms") or []]
    for a, policy in zip(activities, policies, strict=True):
        moment, _ = activity_time(a, reading, scale)
        table.add_row(
            clock_text(moment, True),  # the column's title says which clock
            abbreviate(str(a["cause"]), room - policy_width, alarms),
            abbreviate(policy, policy_width, policies),
            str(a["from"]),
            str(a["to"]),
        )
    if not activities:
        table.add_row("none yet", "", "", "", "")
    console.print(table)

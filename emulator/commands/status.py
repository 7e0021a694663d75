"""`chat-emulator status`: what a running emulator is doing (targets, counts, alarms, scaling activities).

Reads the admin address from the state file `chat-emulator up` wrote (or `--url`).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from emulator.supervisor import default_state_file

NAME = "status"
HELP = "Show a running emulator's targets, desired/running/pending counts, alarms and scaling activities."


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
    service = status["service"]
    console.print(
        f"Load balancer [bold]{status['load_balancer_url']}[/]  AWS endpoint {status['endpoint_url']}"
    )
    console.print(
        f"Service {service['cluster_name']}/{service['service_name']}: desired {service['desired_count']}, "
        f"running {service['running_count']}, pending {service['pending_count']}  (moto: {service['moto']})"
    )
    console.print(
        f"Isolation {status['isolation']}; stickiness {'on' if status['stickiness_enabled'] else 'off'}"
        f"{'; dropping cookies' if status['drop_cookies'] else ''}; Redis: {status['redis']}"
    )
    _targets(status, console)
    console.print(f"CPU: {status['cpu_attribution']}")
    alarms = Table(title="Alarms")
    alarms.add_column("alarm")
    alarms.add_column("state")
    alarms.add_column("reason")
    for alarm in status["alarms"]:
        alarms.add_row(alarm["name"], alarm["state"], alarm.get("reason", ""))
    console.print(alarms)
    _scaling(status.get("scaling"), console)


def _targets(status: dict[str, Any], console: Console) -> None:
    cpu = {t["task_id"]: t.get("cpu_seconds") for t in status["tasks"]}
    targets = Table(title="Targets")
    columns = ("target (task id)", "worker URL", "health", "reason", "connections", "CPU s", "CPU %")
    for column in columns:
        targets.add_column(column, no_wrap=column in ("worker URL", "health"))
    for t in status["targets"]:
        seconds, percent = cpu.get(t["id"]), t.get("cpu_percent")
        targets.add_row(
            t["id"][:12],
            t["url"],
            t["state"],
            t["reason"] or "",
            str(t["open_connections"]),
            f"{seconds:.2f}" if seconds is not None else "",
            f"{percent:.0f}" if percent is not None else "n/a",
        )
    console.print(targets)


def _scaling(scaling: dict[str, Any] | None, console: Console) -> None:
    if not scaling:
        return
    if not scaling.get("enabled"):
        console.print("Autoscaling: off (--no-autoscaling)")
        return
    target = scaling.get("scalable_target") or {}
    console.print(
        f"Autoscaling: one minute every {scaling['minute_seconds']:g} s; "
        f"capacity {target.get('min_capacity')}..{target.get('max_capacity')}"
    )
    activities = Table(title="Scaling activities")
    for column in ("time", "cause (alarm)", "policy", "from", "to"):
        activities.add_column(column, no_wrap=column == "time")
    for a in scaling.get("activities", []):
        activities.add_row(a["time"], a["cause"], a["policy"], str(a["from"]), str(a["to"]))
    if not scaling.get("activities"):
        activities.add_row("none yet", "", "", "", "")
    console.print(activities)

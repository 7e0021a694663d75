"""`chat-emulator status`: what a running emulator is doing (targets, counts, alarms).

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
HELP = "Show a running emulator's targets, desired/running/pending counts and alarm states."


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
    cpu = {t["task_id"]: t.get("cpu_seconds") for t in status["tasks"]}
    targets = Table(title="Targets")
    for column in ("target (task id)", "worker URL", "health", "reason", "connections", "CPU s"):
        targets.add_column(column, no_wrap=column in ("worker URL", "health"))
    for t in status["targets"]:
        seconds = cpu.get(t["id"])
        targets.add_row(
            t["id"][:12],
            t["url"],
            t["state"],
            t["reason"] or "",
            str(t["open_connections"]),
            f"{seconds:.2f}" if seconds is not None else "",
        )
    console.print(targets)
    console.print(f"CPU: {status['cpu_attribution']}")
    alarms = Table(title="Alarms")
    alarms.add_column("alarm")
    alarms.add_column("state")
    for alarm in status["alarms"]:
        alarms.add_row(alarm["name"], alarm["state"])
    console.print(alarms)

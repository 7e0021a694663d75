"""The user's view of a run: a rich progress bar while it runs, then one table (or one JSON object)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from emulator.loadgen.procs import Progress as RunProgress
from emulator.loadgen.runner import LoadConfig
from emulator.loadgen.stats import Report


@contextmanager
def progress_bar(config: LoadConfig, console: Console) -> Iterator[Callable[[RunProgress], None]]:
    """A callback that moves a bar: clients logging in first, then seconds of load."""
    total_s = config.warmup + config.duration + config.drain
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("connecting", total=config.clients, detail="")
        started: list[float] = []

        def update(p: RunProgress) -> None:
            detail = f"{p.connected}/{config.clients} in, {p.sent} sent, {p.received} received"
            if p.phase == "connecting":
                bar.update(task, description="connecting", completed=p.connected, detail=detail)
                return
            if not started:
                started.append(p.elapsed_s)
                bar.reset(task, total=total_s, description=p.phase)
            bar.update(task, description=p.phase, completed=p.elapsed_s - started[0], detail=detail)

        yield update


def _fmt(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value}{unit}"


def table(report: Report) -> Table:
    data = report.as_dict()
    t = Table(title="chat-emulator load", show_header=True, header_style="bold")
    t.add_column("measure")
    t.add_column("value", justify="right")
    s = data["settings"]
    t.add_row(
        "load", f"{s['clients']} clients, {s['senders']} senders x {s['rate']} msg/s, {s['duration']} s"
    )
    t.add_row("logged in", f"{data['logged_in']}/{data['clients']}")
    for name in ("connect_ms", "login_ms"):
        q = data[name]
        t.add_row(
            f"{name[:-3]} p50/p90/p99/max",
            f"{_fmt(q['p50'])} / {_fmt(q['p90'])} / {_fmt(q['p99'])} / {_fmt(q['max'])} ms",
        )
    t.add_row("sent (measured, failed)", f"{data['sent']} ({data['sent_measured']}, {data['send_failed']})")
    t.add_row("expected / received", f"{data['expected']} / {data['received']}")
    t.add_row("loss", f"{data['loss_pct']} %")
    t.add_row("duplicates / out of order", f"{data['duplicates']} / {data['out_of_order']}")
    t.add_row("deliveries/s", f"{data['deliveries_per_s']}")
    lat = data["latency_ms"]
    t.add_row(
        "latency p50/p90/p99/max",
        f"{_fmt(lat['p50'])} / {_fmt(lat['p90'])} / {_fmt(lat['p99'])} / {_fmt(lat['max'])} ms",
    )
    t.add_row(
        "errors (disconnects, server errors)",
        f"{data['errors']} ({data['disconnects']}, {data['server_errors']})",
    )
    cpu = data["cpu"]
    per = ", ".join(f"{v:.0f}" for v in cpu["per_process_pct"])
    t.add_row("load generator CPU (% of a core)", f"{cpu['total_pct']} [{per}]")
    return t


def render(report: Report, console: Console) -> None:
    console.print(table(report))
    for sample in report.result.error_samples:
        console.print(f"[red]error:[/red] {sample}", markup=True, highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", markup=True, highlight=False)


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), separators=(",", ":"))

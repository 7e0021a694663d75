"""`chat-emulator calibrate`: measure the cost model on this machine and write it as a calibration file.

Runs `emulator.loadgen.calibrate` (one real `python -m chat` worker on the machine's Redis, the load
generator, psutil) and writes an `emulator.sim.costmodel.CostModel` whose `measured` says when, on what and
with which command; `simulate` reads the project's own copy, `emulator/sim/calibration.json`. Prints a
table of the figures and how far the repeats lay apart. Exit status: 0 written, 1 the measurement failed,
2 bad options.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from emulator.loadgen.calibrate import (
    DEFAULT_REDIS,
    FIGURES,
    QUICK,
    Calibration,
    CalibrationError,
    Plan,
    calibrate,
    describe_machine,
)
from emulator.sim.costmodel import DEFAULT_CALIBRATION, CostModel, Measured

NAME = "calibrate"
HELP = "Measure what connections and messages cost a real worker; write the cost model simulate uses."
DEFAULT_OUT = Path("calibration.json")

UNITS = {
    "cpu_seconds_per_delivery": ("µs CPU per delivery", 1e6),
    "cpu_seconds_per_message": ("µs CPU per message", 1e6),
    "vcpu_per_connection": ("µ-vCPU per idle connection", 1e6),
    "memory_mib_per_connection": ("KiB per connection", 1024.0),
    "base_memory_mib": ("MiB, worker with no connection", 1.0),
    "bytes_per_delivery": ("bytes per delivery", 1.0),
    "bytes_per_connection_second": ("bytes per connection-second", 1.0),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="FILE",
        help=f"calibration file to write (default ./{DEFAULT_OUT}; `-` prints it on stdout; "
        f"the project's default is {DEFAULT_CALIBRATION.relative_to(DEFAULT_CALIBRATION.parents[2])})",
    )
    parser.add_argument(
        "--connections", type=int, help=f"idle connections of the idle window (default {Plan.connections})"
    )
    parser.add_argument(
        "--duration", type=float, help=f"seconds per measured window (default {Plan.duration:g})"
    )
    parser.add_argument("--repeats", type=int, help=f"fresh workers measured (default {Plan.repeats})")
    parser.add_argument(
        "--redis",
        default=None,
        metavar="HOST[:PORT]|embedded",
        help=f"the Redis the worker uses, through REDIS_ENDPOINT as on Fargate (default {DEFAULT_REDIS}); "
        "`embedded`: the worker's in-process fakeredis (its CPU then counts in the worker's)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a run of seconds ({QUICK.connections} connections, {QUICK.duration:g} s windows, one repeat): "
        "a check, not a calibration",
    )


def plan_from(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else Plan()
    given = {
        name: getattr(args, name)
        for name in ("connections", "duration", "repeats", "redis")
        if getattr(args, name) is not None
    }
    plan = replace(plan, **given)
    plan.check()
    if str(args.out) != "-" and not args.out.parent.is_dir():
        raise ValueError(f"--out {args.out}: no folder {args.out.parent}")
    return plan


def command_line(plan: Plan, quick: bool, out: Path) -> str:
    """The command that measures `plan` again, every setting spelled out."""
    return (
        f"chat-emulator calibrate{' --quick' if quick else ''} --connections {plan.connections} "
        f"--duration {plan.duration:g} --repeats {plan.repeats} --redis {plan.redis} --out {out}"
    )


def describe_load(plan: Plan) -> str:
    return (
        f"{plan.repeats} repeat(s), each a fresh `python -m chat` (LEAVE_GRACE=0, Redis {plan.redis}): "
        f"base {plan.base_s:g} s with no connection; {plan.connections} idle logged-in WebSocket clients; "
        f"{plan.senders} senders x {plan.rate:g} msg/s to {plan.low_clients}, then to {plan.high_clients} clients; "
        f"windows of {plan.duration:g} s in whole ping intervals (idle: at least one), after {plan.warmup:g} s "
        "of warm-up each"
    )


def describe_spread(calibration: Calibration) -> str:
    wire = calibration.wire
    parts = [
        f"{name} {low:.4g}..{high:.4g}" for name in FIGURES[:5] for low, high in [calibration.spread(name)]
    ]
    notes = [
        f"min..max over the repeats: {'; '.join(parts)}",
        f"idle worker {calibration.base_vcpu * 1000:.2f} mvCPU (not in the model)",
        f"ping interval {wire.ping_interval_s:g} s; a ping + pong = {wire.heartbeat_bytes} B; a delivery frame "
        f"{wire.delivery_frame_bytes} B; the sender's frame ({wire.message_frame_bytes} B per message) is not in "
        "the model",
    ]
    if calibration.clamped:
        notes.append(f"measured below 0 in a repeat and taken as 0: {', '.join(calibration.clamped)}")
    return "; ".join(notes)


def cost_model(calibration: Calibration, quick: bool, out: Path) -> CostModel:
    measured = Measured(
        date=datetime.now(UTC).replace(microsecond=0).isoformat(),
        machine=describe_machine(),
        command=command_line(calibration.plan, quick, out),
        load=describe_load(calibration.plan),
        notes=describe_spread(calibration),
    )
    return CostModel(**asdict(calibration.figures), measured=measured)


def render(calibration: Calibration, console: Console) -> None:
    table = Table(title="cost model, measured", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("repeats spread", justify="right")
    figures = calibration.figures
    for name in FIGURES:
        unit, scale = UNITS[name]
        spread = f"±{calibration.spread_pct(name) / 2:.0f} %" if len(calibration.runs) > 1 else "-"
        table.add_row(name, f"{getattr(figures, name) * scale:.4g}", unit, spread)
    console.print(table)


def run(args: argparse.Namespace) -> int:
    try:
        plan = plan_from(args)
    except ValueError as exc:
        print(f"calibrate: {exc}", file=sys.stderr)
        return 2
    progress = Console(stderr=True, highlight=False)
    try:
        calibration = calibrate(plan, on_phase=lambda text: progress.print(f"calibrate: {text}"))
    except CalibrationError as exc:
        print(f"calibrate: {exc}", file=sys.stderr)
        return 1
    model = cost_model(calibration, args.quick, args.out)
    if str(args.out) == "-":
        print(json.dumps(model.as_dict(), indent=2))
        render(calibration, progress)
        return 0
    model.write(args.out)
    console = Console(highlight=False)
    render(calibration, console)
    console.print(f"wrote {args.out}")
    return 0

"""`chat-emulator simulate`: the control plane's own code over a load file, in virtual time — a capacity planner.

Deploys the templates into an in-process moto (`emulator.aws.emulated_account`), reads the deployed service
(alarms, policies, scalable target, task CPU and memory, deregistration delay), then runs `emulator.sim.simulate`
over `--load` (`minute,demand_vcpu`, or `minute,connections,messages_per_s` turned into CPU, memory and bytes by
the cost model `--model`, by default the committed calibration) and writes the timeline, the plot, the summary —
what it cost from the dated price table (`--region`) and what users felt — as text or `--json`. `--compare` runs
several policies (parameter sets or template folders) over the same load: one table, one figure.

A bad load file, cost model, region or a `--param` CloudFormation would refuse (`emulator.aws.parameters`) exits 2
with one line; a stack that fails to deploy exits 1 with its failure events.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.aws import emulated_account
from emulator.aws.exceptions import AwsError, TemplateError
from emulator.aws.templates import deployed_parameter, parse_param_assignments
from emulator.model import ServiceDescription
from emulator.sim import (
    LoadFileError,
    plot_timeline,
    read_load,
    simulate,
    summary_text,
    write_timeline,
)
from emulator.sim.cost import PriceError, PriceTable
from emulator.sim.costmodel import DEFAULT_CALIBRATION, CostModel, CostModelError
from emulator.sim.load import Load
from emulator.sim.report import comparison_table, plot_comparison
from emulator.sim.run import Options, Simulation
from emulator.telemetry import connections_metric_key

NAME = "simulate"
HELP = (
    "Plan capacity: run the templates' alarms and scaling policies over a load file in virtual time "
    "(7 days in seconds), with dollars and what users feel."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--load",
        type=Path,
        required=True,
        help="CSV with header minute,demand_vcpu or minute,connections,messages_per_s",
    )
    parser.add_argument(
        "--out", type=Path, help="timeline CSV to write (one row per minute; per policy with --compare)"
    )
    parser.add_argument(
        "--plot", type=Path, help="PNG: load, metrics, tasks and cost (with --compare: all policies)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout instead of the text"
    )
    parser.add_argument(
        "--templates",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of CloudFormation templates (default: the project's cloudformation/)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a template parameter, e.g. --param MaxCapacity=8 (repeatable)",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help=(
            "a policy to compare, e.g. 'connections:ScalingMode=TargetTrackingScaling,ScalingMetric=ActiveConnections'"
            " or 'mine:templates=path/to/dir' (repeatable; --param applies to all)"
        ),
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_CALIBRATION,
        metavar="FILE",
        help="cost model for a load in connections (default: the committed calibration; `chat-emulator calibrate`)",
    )
    parser.add_argument("--region", default="us-east-1", help="prices of this region (default us-east-1)")
    parser.add_argument(
        "--session-minutes",
        type=float,
        default=30.0,
        help="a load in connections: the average session length, after which a user reconnects (default 30)",
    )
    parser.add_argument(
        "--task-start-seconds",
        type=float,
        default=60,
        help="seconds from a desired-count rise until the new task is RUNNING (default 60)",
    )


@dataclass(frozen=True)
class Policy:
    """One entry of --compare (or the single run): a name, a templates folder, parameters."""

    name: str
    templates: Path | None
    params: dict[str, str] = field(default_factory=dict)


class UsageError(ValueError):
    """A command-line value the command cannot run with."""


def parse_policy(text: str, templates: Path | None, base: dict[str, str]) -> Policy:
    """`NAME:KEY=VALUE,KEY=VALUE` (`templates=DIR` picks a template folder)."""
    name, sep, rest = text.partition(":")
    if not sep or not name.strip():
        raise UsageError(f"--compare expects NAME:KEY=VALUE,..., got {text!r}")
    params = dict(base)
    assignments = parse_param_assignments([a for a in rest.split(",") if a.strip()])
    folder = assignments.pop("templates", None)
    params.update(assignments)
    return Policy(name.strip(), Path(folder) if folder else templates, params)


def deployed_service(templates: Path | None, params: dict[str, str]) -> ServiceDescription:
    """The service as the templates deploy it into the emulated account."""
    with emulated_account(templates_dir=templates, params=params) as account:
        return account.service


def redis_node_type(templates: Path | None, params: dict[str, str]) -> str | None:
    """The ElastiCache node type the resources stack is deployed with (its price is part of the bill); None when the
    templates do not say it through a RedisNodeType parameter."""
    return deployed_parameter("RedisNodeType", templates, params)


COMPARE_NAME = re.compile(r"[A-Za-z0-9._-]+")
PLOT_FORMATS = (".png", ".svg", ".pdf")


def run(args: argparse.Namespace) -> int:
    try:
        load = read_load(args.load)
        base = parse_param_assignments(args.param)
        policies = [parse_policy(c, args.templates, base) for c in args.compare] or [
            Policy(args.load.stem, args.templates, base)
        ]
        _check_options(args, policies)
        model = CostModel.read(args.model) if load.in_users else None
        prices = PriceTable.read(args.region)
        runs = [(p, _simulate(p, load, model, prices, args)) for p in policies]
    except (OSError, LoadFileError, TemplateError, CostModelError, PriceError, UsageError) as exc:
        print(f"chat-emulator simulate: {exc}", file=sys.stderr)
        return 2
    except AwsError as exc:
        print(f"chat-emulator simulate: {exc}", file=sys.stderr)
        return 1
    _write_outputs(args, runs)
    summaries = [(p.name, s.summary()) for p, s in runs]
    if args.json:
        print(json.dumps(_json(args, load, model, prices, runs), indent=2))
    elif args.compare:
        print(comparison_table(summaries))
        print(f"(cost: {prices.region}, prices of {prices.date}; over capacity: minutes some users waited)")
    else:
        print(summary_text(summaries[0][1], prices.region, prices.date))
    return 0


def _check_options(args: argparse.Namespace, policies: list[Policy]) -> None:
    """Refuse before the run what would fail after it."""
    if len({p.name for p in policies}) != len(policies):
        raise UsageError("--compare names must differ")
    if bad := [p.name for p in policies if args.compare and not COMPARE_NAME.fullmatch(p.name)]:
        raise UsageError(f"--compare names may hold letters, digits, '.', '_' and '-' only: {bad[0]!r}")
    if args.session_minutes <= 0:
        raise UsageError("--session-minutes must be > 0")
    if args.task_start_seconds < 0:
        raise UsageError("--task-start-seconds must be >= 0")
    for option, path in (("--out", args.out), ("--plot", args.plot)):
        if path is None:
            continue
        if path.is_dir():
            raise UsageError(f"{option} {path}: is a folder, give a file name")
        if not path.parent.is_dir():
            raise UsageError(f"{option} {path}: no folder {path.parent}")
    if args.plot is not None and args.plot.suffix.lower() not in PLOT_FORMATS:
        raise UsageError(f"--plot {args.plot}: the file name must end in {', '.join(PLOT_FORMATS)}")


def _simulate(
    policy: Policy, load: Load, model: CostModel | None, prices: PriceTable, args: argparse.Namespace
) -> Simulation:
    service = deployed_service(policy.templates, policy.params)
    if not load.in_users and connections_metric_key(service.task_definition) is not None:
        raise UsageError(
            f"{policy.name}: the service scales on ActiveConnections, and a minute,demand_vcpu load has no"
            " connections: give a minute,connections,messages_per_s load"
        )
    node_type = redis_node_type(policy.templates, policy.params)
    if node_type is None or node_type not in prices.elasticache_node_hour:
        known = ", ".join(sorted(prices.elasticache_node_hour))
        what = node_type or "the node (the templates have no RedisNodeType)"
        print(
            f"chat-emulator simulate: {policy.name}: no ElastiCache price for {what} in {prices.region}"
            f" (the table has {known}): the bill leaves ElastiCache out",
            file=sys.stderr,
        )
        node_type = None
    options = Options(
        task_start_seconds=args.task_start_seconds,
        session_seconds=args.session_minutes * 60,
        model=model,
        prices=prices,
        node_type=node_type,
    )
    return simulate(service, load, options=options)


def _write_outputs(args: argparse.Namespace, runs: list[tuple[Policy, Simulation]]) -> None:
    if args.out:
        for policy, simulation in runs:
            path = (
                args.out
                if not args.compare
                else args.out.with_name(f"{args.out.stem}-{policy.name}{args.out.suffix}")
            )
            write_timeline(path, simulation)
    if args.plot:
        if args.compare:
            plot_comparison(args.plot, [(p.name, s) for p, s in runs], title=args.load.stem)
        else:
            plot_timeline(args.plot, runs[0][1], title=args.load.stem)


def _json(
    args: argparse.Namespace,
    load: Load,
    model: CostModel | None,
    prices: PriceTable,
    runs: list[tuple[Policy, Simulation]],
) -> dict[str, Any]:
    return {
        "load": str(args.load),
        "load_kind": "connections" if load.in_users else "demand_vcpu",
        "cost_model": None if model is None else {"file": str(args.model), "measured": vars(model.measured)},
        "prices": {"region": prices.region, "date": prices.date, "sources": dict(prices.sources)},
        "policies": [
            {"name": p.name, "templates": str(p.templates or ""), "params": p.params, **s.summary().as_dict()}
            for p, s in runs
        ],
    }

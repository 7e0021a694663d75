"""`chat-emulator simulate`: the control plane's own code over a load file, in virtual time.

Deploys the templates into an in-process moto (`emulator.aws.emulated_account`), reads the deployed
service (alarms, policies, scalable target, task CPU, deregistration delay), then runs
`emulator.sim.simulate` over `--load` and writes the timeline, the plot and the summary. A bad load file
or a `--param` CloudFormation would refuse (`emulator.aws.parameters`) exits 2 with one line; a stack
that fails to deploy exits 1 with its failure events.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emulator.aws import emulated_account
from emulator.aws.exceptions import AwsError, TemplateError
from emulator.aws.templates import parse_param_assignments
from emulator.model import ServiceDescription
from emulator.sim import LoadFileError, plot_timeline, read_load, simulate, summary_text, write_timeline

NAME = "simulate"
HELP = "Run the templates' alarms and scaling policies over a load file in virtual time (7 days in seconds)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--load", type=Path, required=True, help="CSV with header minute,demand_vcpu")
    parser.add_argument("--out", type=Path, help="timeline CSV to write (one row per minute)")
    parser.add_argument("--plot", type=Path, help="PNG of load, CPU, desired and running tasks")
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
        "--task-start-seconds",
        type=float,
        default=60,
        help="seconds from a desired-count rise until the new task is RUNNING (default 60)",
    )


def deployed_service(templates: Path | None, params: dict[str, str]) -> ServiceDescription:
    """The service as the templates deploy it into the emulated account."""
    with emulated_account(templates_dir=templates, params=params) as account:
        return account.service


def run(args: argparse.Namespace) -> int:
    try:
        demand = read_load(args.load)
        params = parse_param_assignments(args.param)
        service = deployed_service(args.templates, params)
    except (OSError, LoadFileError, TemplateError) as exc:
        print(f"chat-emulator simulate: {exc}", file=sys.stderr)
        return 2
    except AwsError as exc:
        print(f"chat-emulator simulate: {exc}", file=sys.stderr)
        return 1
    simulation = simulate(service, demand, task_start_seconds=args.task_start_seconds)
    if args.out:
        write_timeline(args.out, simulation)
    if args.plot:
        plot_timeline(args.plot, simulation, title=args.load.stem)
    print(summary_text(simulation.summary()))
    return 0

"""`chat-emulator deploy`: create or update the three stacks, in order, on AWS or a moto server.

With the user's AWS credentials (boto3's usual chain: environment, profile, SSO...) it deploys to AWS;
with `--endpoint-url` it deploys to that endpoint (for example `python -m emulator.aws.server`). It
waits for each stack, prints every stack's outputs, and on failure prints the stack's own failure events
and exits 1. Mistakes found before CloudFormation is called exit 2 with one line: a parameter
CloudFormation would refuse (`emulator.aws.parameters`), no region, no credentials (what to set).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emulator.aws.exceptions import AwsError, AwsSetupError, ParameterError
from emulator.aws.session import cloudformation_client
from emulator.aws.stacks import deploy_stacks
from emulator.aws.templates import DEFAULT_STACK_PREFIX, parse_param_assignments, stack_plan

NAME = "deploy"
HELP = "Deploy the CloudFormation stacks (cluster, resources, service) to AWS or to a moto endpoint."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter, e.g. ImageUrl=<repo>:v2 or DesiredCount=3 (repeatable; each goes "
        "to every stack that declares it)",
    )
    parser.add_argument("--region", default=None, help="AWS region (default: boto3's configured region)")
    parser.add_argument("--endpoint-url", default=None, help="deploy to this endpoint, e.g. a moto server")
    parser.add_argument(
        "--stack-prefix",
        default=DEFAULT_STACK_PREFIX,
        help="stacks are named <prefix>-cluster, <prefix>-resources, <prefix>-service (default: %(default)s)",
    )
    parser.add_argument(
        "--templates",
        "--templates-dir",
        dest="templates",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of CloudFormation templates (default: the project's cloudformation/; "
        "--templates-dir is the old name)",
    )
    parser.add_argument("--poll-seconds", type=float, default=5.0, help="how often to check a stack's status")


def run(args: argparse.Namespace) -> int:
    try:
        plans = stack_plan(args.templates, parse_param_assignments(args.param), args.stack_prefix)
        cloudformation = cloudformation_client(args.region, args.endpoint_url)
        for plan in plans:
            print(f"deploying {plan.stack_name} ({plan.template_path.name}) ...", flush=True)
            outputs = deploy_stacks(cloudformation, [plan], poll_seconds=args.poll_seconds)[plan.stack_name]
            print(f"{plan.stack_name}: done")
            for key, value in sorted(outputs.items()):
                print(f"  {key} = {value}")
    except (ParameterError, AwsSetupError) as exc:
        print(f"chat-emulator deploy: {exc}", file=sys.stderr)
        return 2
    except AwsError as exc:
        print(f"chat-emulator deploy: {exc}", file=sys.stderr)
        return 1
    return 0

"""`chat-emulator up`: the whole Fargate deployment on this machine, until Ctrl+C.

Prints the load balancer URL (open it in two browser tabs), the moto endpoint (point the AWS CLI at
it: `aws --endpoint-url URL ecs update-service ... --desired-count 3` and the workers follow) and the
admin address that `chat-emulator status` reads. The autoscaler runs the template's alarms and
scaling policies every minute of the clock (`--time-scale 60`: every second), and when stdout is a
terminal a live dashboard shows the targets, counts, alarms and scaling activities (`--no-dashboard`
for plain logs; with the dashboard, INFO logs go to a file and warnings show above it). Ctrl+C shuts
down in AWS's order (deregister, drain, SIGTERM, stopTimeout, SIGKILL); a second Ctrl+C forces.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from emulator.aws.exceptions import ParameterError
from emulator.dashboard import run_dashboard
from emulator.supervisor import Emulator, EmulatorConfig, default_state_file, serve

NAME = "up"
HELP = "Deploy the templates into moto, start the workers and the load balancer, run until Ctrl+C."

log = logging.getLogger("emulator.up")


def _param(raw: str) -> tuple[str, str]:
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected Key=Value, got {raw!r}")
    return key, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=None, help="tasks to run (default: DesiredCount)")
    parser.add_argument("--port", type=int, default=8080, help="load balancer port on 127.0.0.1")
    parser.add_argument("--isolation", choices=("inproc", "process"), default="inproc")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of an embedded one")
    parser.add_argument(
        "--drop-cookies", action="store_true", help="behave like CloudFront without cookie forwarding"
    )
    parser.add_argument(
        "--no-stickiness",
        dest="stickiness",
        action="store_const",
        const=False,
        default=None,
        help="turn the target group's stickiness.enabled off (the template keeps it on)",
    )
    parser.add_argument(
        "--param", type=_param, action="append", default=[], metavar="KEY=VALUE", help="template parameter"
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="run emulated time (health checks, delays) N x faster"
    )
    parser.add_argument("--admin-port", type=int, default=0, help="admin JSON endpoint port (default: any)")
    parser.add_argument("--state-file", type=Path, default=None, help=f"default: {default_state_file()}")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument(
        "--no-autoscaling",
        dest="autoscaling",
        action="store_false",
        help="do not evaluate the alarms: the desired count stays where it is put",
    )
    parser.add_argument(
        "--dashboard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="live dashboard (default: when stdout is a terminal); --no-dashboard for plain logs",
    )


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        workers=args.workers,
        port=args.port,
        isolation=args.isolation,
        redis_url=args.redis_url,
        drop_cookies=args.drop_cookies,
        stickiness=args.stickiness,
        params=dict(args.param),
        time_scale=args.time_scale,
        admin_port=args.admin_port,
        state_file=args.state_file,
        autoscaling=args.autoscaling,
    )


def run(args: argparse.Namespace) -> int:
    dashboard = sys.stdout.isatty() if args.dashboard is None else args.dashboard
    console = Console() if dashboard else None
    _configure_logging(args.log_level, console)
    try:
        while_running = _dashboard(console) if console is not None else None
        return asyncio.run(serve(config_from_args(args), announce=_announce, while_running=while_running))
    except KeyboardInterrupt:
        return 130
    except ParameterError as exc:  # a --param CloudFormation would refuse: nothing was started
        print(f"chat-emulator up: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # most often: the load balancer's port is taken
        print(f"chat-emulator up: {exc} (is --port {args.port} free?)", file=sys.stderr)
        return 1


def _configure_logging(level: str, console: Console | None) -> None:
    """Plain logs on stderr; with the dashboard, logs to a file and warnings above the dashboard."""
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if console is None:
        logging.basicConfig(level=level, format=fmt)
        return
    path = Path(tempfile.gettempdir()) / f"fargate-chat-emulator-{os.getpid()}.log"
    to_file = logging.FileHandler(path)
    to_file.setFormatter(logging.Formatter(fmt))
    on_screen = RichHandler(console=console, show_path=False, level=logging.WARNING)
    logging.basicConfig(level=level, handlers=[to_file, on_screen])
    console.print(f"Logs: {path}")


def _dashboard(console: Console) -> Callable[[Emulator], Awaitable[None]]:
    """The live dashboard on `console` while the emulator runs."""

    async def show(emulator: Emulator) -> None:
        refresh = emulator.config.time_scale  # one real second of the emulator's clock
        await run_dashboard(emulator.status, console, emulator.clock, refresh_seconds=refresh)

    return show


def _announce(emulator: Emulator) -> None:
    service = emulator.account.read_service()
    endpoint = getattr(emulator.account, "endpoint_url", None)
    region = getattr(emulator.account, "region", "us-east-1")
    lines = [
        f"Load balancer:  {emulator.load_balancer.url}   (open it in two browser tabs)",
        f"AWS endpoint:   {endpoint}   (the emulated account; moto takes any credentials)",
        f"  export AWS_ENDPOINT_URL={endpoint} AWS_DEFAULT_REGION={region} "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
        f"  aws ecs describe-services --cluster {service.cluster_name} --services {service.service_name}",
        f"Admin:          {emulator.deployment.admin.url}   (chat-emulator status)",
        f"Workers:        {service.desired_count} x {emulator.config.isolation}; Redis: {emulator.redis.description}",
    ]
    if emulator.deployment.run_dir is not None:
        lines.append(f"Worker logs:    {emulator.deployment.run_dir}")
    if emulator.config.workers is not None and emulator.config.autoscaling and service.scalable_target:
        target = service.scalable_target
        lines.append(
            f"Note: autoscaling is on: the template's alarms will move the desired count from {service.desired_count} "
            f"(between MinCapacity {target.min_capacity} and MaxCapacity {target.max_capacity}); "
            "--no-autoscaling keeps it where you put it."
        )
    lines.append("Press Ctrl+C to stop.")
    print("\n".join(lines), flush=True)

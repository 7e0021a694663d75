"""`chat-emulator up`: the whole Fargate deployment on this machine, until Ctrl+C.

Prints the load balancer URL (open it in two browser tabs), the moto endpoint (point the AWS CLI at
it: `aws --endpoint-url URL ecs update-service ... --desired-count 3` and the workers follow) and the
admin address that `chat-emulator status` reads. Ctrl+C shuts down in AWS's order (deregister,
drain, SIGTERM, stopTimeout, SIGKILL); a second Ctrl+C forces.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from emulator.supervisor import Emulator, EmulatorConfig, default_state_file

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
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(serve(config_from_args(args)))
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # most often: the load balancer's port is taken
        print(f"chat-emulator up: {exc} (is --port {args.port} free?)", file=sys.stderr)
        return 1


async def serve(config: EmulatorConfig) -> int:
    """Start, print where everything is, wait for Ctrl+C (or SIGTERM), shut down; twice forces."""
    stop, force = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            print("Forcing shutdown: SIGKILL to every worker.", file=sys.stderr, flush=True)
            force.set()
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    emulator = Emulator(config)
    try:
        await emulator.start()
        _announce(emulator)
        await stop.wait()
        print("Shutting down in AWS's order (Ctrl+C again to force)...", file=sys.stderr, flush=True)
        await _shutdown(emulator, force)
    except BaseException:
        await emulator.shutdown(force=True)
        raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


async def _shutdown(emulator: Emulator, force: asyncio.Event) -> None:
    graceful = asyncio.ensure_future(emulator.shutdown())
    forced = asyncio.ensure_future(force.wait())
    await asyncio.wait({graceful, forced}, return_when=asyncio.FIRST_COMPLETED)
    if not graceful.done():
        assert emulator.cluster is not None
        await emulator.cluster.shutdown(force=True)
        await graceful
    forced.cancel()


def _announce(emulator: Emulator) -> None:
    assert emulator.load_balancer is not None and emulator.service is not None
    service = emulator.service
    lines = [
        f"Load balancer:  {emulator.load_balancer.url}   (open it in two browser tabs)",
        f"AWS endpoint:   {getattr(emulator.account, 'endpoint_url', None)}   "
        f"(aws --endpoint-url ... ecs update-service --cluster {service.cluster_name} "
        f"--service {service.service_name} --desired-count N)",
        f"Admin:          {emulator.admin.url if emulator.admin else None}   (chat-emulator status)",
        f"Workers:        {emulator.cluster.desired_count if emulator.cluster else 0} x "
        f"{emulator.config.isolation}; Redis: {emulator.redis.description}",
        "Press Ctrl+C to stop.",
    ]
    print("\n".join(lines), flush=True)

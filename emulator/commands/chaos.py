"""`chat-emulator chaos SCENARIO`: inject one fault into the emulated deployment while clients chat; report it.

It starts its own deployment — the templates into moto, `--workers` tasks as OS processes (`--isolation process`,
so they can be SIGKILLed and SIGSTOPped), the emulator's private redis-server (so it can be stopped and started),
the sticky load balancer, autoscaling off (the desired count moves only when the scenario moves it) — and stops it
afterwards. It does not attach to a running `chat-emulator up`: that one's admin endpoint only reports, it takes no
faults. Its own load balancer listens on a free port, so an `up` on 8080 is not disturbed.

Clients (`--senders` + `--receivers`) go through the load balancer as browsers do (WebSocket, their own cookies,
connection-state recovery, socket.io-client's reconnection backoff); `--official-receivers N` adds receivers that
are the official JavaScript client in Node, when Node and socket.io-client are installed (`--node-modules`).

Exit status: 0 when no acked message was lost, 1 when one was (the report names it), 2 when the run could not be
carried out (bad arguments, a scenario not available yet, a missing redis-server or Node, a deployment that did not
start).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from rich.console import Console

from emulator.aws.exceptions import ParameterError
from emulator.chaos import SCENARIOS, ChaosError, ChaosReport, ChaosRun, ChaosSettings, EmulatorDeployment
from emulator.chaos.faults import until_healthy
from emulator.chaos.official import OfficialReceivers, find_node_modules
from emulator.chaos.report import render, to_json
from emulator.commands.up import _param
from emulator.supervisor import Emulator, EmulatorConfig

NAME = "chaos"
HELP = "Inject one fault (kill-task, kill-all, freeze-task, restart-redis, stop-redis, scale-in) while clients chat."

HEALTHY_TIMEOUT = 120.0  # real seconds for the deployment's tasks to pass their health checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario", nargs="?", choices=list(SCENARIOS), metavar="SCENARIO", help=_scenarios_help()
    )
    parser.add_argument(
        "--list", action="store_true", help="list the scenarios and whether each is available"
    )
    parser.add_argument("--workers", type=int, default=3, help="tasks to run (default 3)")
    parser.add_argument("--senders", type=int, default=4, help="clients that send (default 4)")
    parser.add_argument("--receivers", type=int, default=8, help="clients that only receive (default 8)")
    parser.add_argument("--rate", type=float, default=4.0, help="messages per second per sender (default 4)")
    parser.add_argument(
        "--before", type=float, default=3.0, help="seconds of traffic before the fault (default 3)"
    )
    parser.add_argument(
        "--after", type=float, default=5.0, help="seconds of traffic once every client is back (default 5)"
    )
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds for the last acks and deliveries (default 5)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="how long freeze-task / stop-redis last (default 15 / 5)",
    )
    parser.add_argument("--ack-timeout", type=float, default=5.0, help="seconds before a resend (default 5)")
    parser.add_argument(
        "--recovery-timeout",
        type=float,
        default=60.0,
        help="the longest wait for every client to be back (default 60)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="emulated control plane N x faster (health checks, deregistration delay, stop timeout)",
    )
    parser.add_argument(
        "--param", type=_param, action="append", default=[], metavar="KEY=VALUE", help="template parameter"
    )
    parser.add_argument("--port", type=int, default=0, help="load balancer port on 127.0.0.1 (default: any)")
    parser.add_argument(
        "--official-receivers",
        type=int,
        default=0,
        help="receivers that are the official socket.io-client in Node (default 0)",
    )
    parser.add_argument(
        "--node-modules",
        type=Path,
        default=None,
        help="where socket.io-client is installed (default: $CHAT_NODE_MODULES, else ./tests/js/node_modules)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout, no text")
    parser.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def _scenarios_help() -> str:
    return "; ".join(
        f"{s.name}: {s.summary}" + (" (not available yet)" if s.unavailable else "")
        for s in SCENARIOS.values()
    )


def settings_from(args: argparse.Namespace) -> ChaosSettings:
    settings = ChaosSettings(
        senders=args.senders,
        receivers=args.receivers,
        rate=args.rate,
        before=args.before,
        after=args.after,
        settle=args.settle,
        seconds=args.seconds,
        ack_timeout=args.ack_timeout,
        recovery_timeout=args.recovery_timeout,
        run=uuid.uuid4().hex[:8],
    )
    settings.check()
    if args.workers < 1 or args.official_receivers < 0 or args.time_scale <= 0:
        raise ValueError("need --workers >= 1, --official-receivers >= 0, --time-scale > 0")
    return settings


def run(args: argparse.Namespace) -> int:
    if args.list:
        for s in SCENARIOS.values():
            print(f"{s.name:20} {s.unavailable or s.summary}")
        return 0
    if args.scenario is None:
        print("chaos: name a SCENARIO (chat-emulator chaos --list)", file=sys.stderr)
        return 2
    scenario = SCENARIOS[args.scenario]
    if scenario.unavailable:
        print(f"chaos {scenario.name}: {scenario.unavailable}", file=sys.stderr)
        return 2
    try:
        settings = settings_from(args)
        problem = _missing_prerequisite(args, scenario.needs_redis)
    except ValueError as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    if problem:
        print(f"chaos {scenario.name}: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        report = asyncio.run(chaos(args, settings))
    except (ChaosError, ParameterError) as exc:
        print(f"chaos {scenario.name}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"chaos {scenario.name}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(to_json(report))
    else:
        render(report, Console(highlight=False))
    return 0 if report.ok else 1


def _missing_prerequisite(args: argparse.Namespace, needs_redis: bool) -> str | None:
    if needs_redis and shutil.which("redis-server") is None:
        return (
            "needs redis-server on PATH (the emulator's private Redis, which the scenario stops and starts)"
        )
    if args.official_receivers:
        if shutil.which("node") is None:
            return "--official-receivers needs Node (node on PATH)"
        if find_node_modules(args.node_modules) is None:
            return (
                "--official-receivers needs socket.io-client: `npm ci --prefix tests/js`, or point "
                "--node-modules (or CHAT_NODE_MODULES) at a node_modules that has it"
            )
    return None


async def chaos(args: argparse.Namespace, settings: ChaosSettings) -> ChaosReport:
    """Start the deployment, run the scenario, stop the deployment."""
    scenario = SCENARIOS[args.scenario]
    state = Path(tempfile.gettempdir()) / f"fargate-chat-chaos-{os.getpid()}.json"
    config = EmulatorConfig(
        workers=args.workers,
        port=args.port,
        isolation="process",
        params=dict(args.param),
        time_scale=args.time_scale,
        state_file=state,
        autoscaling=False,
    )
    emulator = Emulator(config)
    official: OfficialReceivers | None = None
    try:
        await emulator.start()
        if not await until_healthy(emulator, args.workers, HEALTHY_TIMEOUT):
            raise ChaosError(f"the {args.workers} tasks were not healthy within {HEALTHY_TIMEOUT:g} s")
        deployment = EmulatorDeployment(emulator)
        url = deployment.load_balancer.url
        run = ChaosRun(deployment, scenario, settings, url, describe=deployment.describe())
        if args.official_receivers:
            node_modules = find_node_modules(args.node_modules)
            assert node_modules is not None
            official = OfficialReceivers(
                args.official_receivers,
                url,
                run.observer,
                node_modules,
                clock=deployment.clock,
                run=settings.run,
            )
            await official.start()
            run.add_participants(official.participants)
        return await run.run()
    finally:
        if official is not None:
            await official.stop()
        await emulator.shutdown(force=True)

"""`chat-emulator load`: N clients log in, S of them send at R msg/s; latency, loss, connect times, own CPU.

Point `--url` at the emulator's load balancer, or give several worker URLs (clients are spread round
robin). Exit status: 0 when every client logged in and every measured message reached every other client
once; 1 otherwise; 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import uuid

from rich.console import Console

from emulator.loadgen import LoadConfig, run_load
from emulator.loadgen.report import progress_bar, render, to_json

NAME = "load"
HELP = "Load-test a running chat: clients, senders, rate; report latency, loss, connect times and own CPU."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="chat URL(s), comma-separated: the ALB or the workers")
    parser.add_argument("--clients", type=int, default=200, help="connected, logged-in clients (default 200)")
    parser.add_argument("--senders", type=int, default=10, help="clients that send messages (default 10)")
    parser.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="messages per second per sender (default 1; the worker allows MESSAGE_RATE, default 10)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds (default 10)")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="unmeasured seconds of load first (default 2)"
    )
    parser.add_argument(
        "--drain", type=float, default=2.0, help="seconds to wait for late messages (default 2)"
    )
    parser.add_argument("--typing", action="store_true", help="send typing / stop typing around each message")
    parser.add_argument(
        "--transport",
        choices=("websocket", "polling"),
        default="websocket",
        help="websocket (default), or long-polling then the upgrade (as browsers do)",
    )
    parser.add_argument("--payload", type=int, default=0, help="extra bytes of text per message (default 0)")
    parser.add_argument("--procs", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument("--connect-timeout", type=float, default=30.0, help="seconds to log in (default 30)")
    parser.add_argument(
        "--connect-concurrency", type=int, default=50, help="logins in flight per process (default 50)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout, no table")


def config_from(args: argparse.Namespace) -> LoadConfig:
    urls = tuple(u.strip().rstrip("/") for u in args.url.split(",") if u.strip())
    if not urls:
        raise ValueError("--url names no URL")
    if not all(u.startswith(("http://", "https://")) for u in urls):
        raise ValueError("--url takes http:// or https:// URLs")
    if args.clients < 1 or not 0 <= args.senders <= args.clients:
        raise ValueError("need --clients >= 1 and 0 <= --senders <= --clients")
    if args.rate <= 0 or args.duration <= 0 or args.warmup < 0 or args.drain < 0:
        raise ValueError("need --rate > 0, --duration > 0, --warmup >= 0, --drain >= 0")
    if args.procs < 1 or args.payload < 0 or args.connect_concurrency < 1:
        raise ValueError("need --procs >= 1, --payload >= 0, --connect-concurrency >= 1")
    return LoadConfig(
        urls=urls,
        clients=args.clients,
        senders=args.senders,
        rate=args.rate,
        duration=args.duration,
        warmup=args.warmup,
        drain=args.drain,
        typing=args.typing,
        transport=args.transport,
        payload=args.payload,
        procs=min(args.procs, args.clients),
        connect_timeout=args.connect_timeout,
        connect_concurrency=args.connect_concurrency,
        run=uuid.uuid4().hex[:8],
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
    except ValueError as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 2
    if args.json:
        report = run_load(config)
        print(to_json(report))
    else:
        console = Console(stderr=False)
        with progress_bar(config, Console(stderr=True)) as update:
            report = run_load(config, update)
        render(report, console)
    return 0 if report.ok else 1

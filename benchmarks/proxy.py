"""Direct vs through the emulator's load balancer: the same load, alternating, on the same two workers.

Starts a private redis-server and two `python -m chat` workers (free loopback ports), and the emulator's
ALB (`emulator.alb.LoadBalancer`, sticky, the template's settings) in a process of its own, as
`chat-emulator up` runs it. Then, for each rep, runs `chat-emulator load --json` straight at both
workers and through the ALB, and prints deliveries/s, p50/p99 latency, loss and the proxy's CPU, with the
ratios proxy/direct. Stops everything it started by PID.

    .venv/bin/python benchmarks/proxy.py [--reps 2] [--clients 200] [--senders 10] [--rate 20] [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


async def serve_alb(port: int, targets: list[int]) -> None:
    """The ALB process: a sticky target group of `targets`, healthy, behind a LoadBalancer on `port`."""
    from emulator.alb import HealthCheckResult, LoadBalancer, TargetGroup
    from emulator.clock import WallClock
    from emulator.model import TargetGroupSettings

    settings = TargetGroupSettings(target_group_arn="bench", port=3000, stickiness_enabled=True)
    tg = TargetGroup(settings, WallClock())
    for index, target_port in enumerate(targets):
        tg.register(f"task-{index}", "127.0.0.1", target_port)
        for _ in range(settings.health_check.healthy_threshold_count):
            tg.record_health(f"task-{index}", HealthCheckResult(ok=True))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with LoadBalancer(tg, port=port):
        await stop.wait()
    await tg.close()


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def load(urls: list[str], args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "emulator.cli", "load", "--url", ",".join(urls), "--json"]
    cmd += ["--clients", str(args.clients), "--senders", str(args.senders), "--rate", str(args.rate)]
    cmd += ["--duration", str(args.duration), "--warmup", "2", "--transport", args.transport]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def cpu_s(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def busy_pct(before: Any, after: Any) -> float:
    """CPU the whole machine used between two `psutil.cpu_times()`, in % of one core (2 cores = 200 %)."""
    total = sum(after) - sum(before)
    idle = (after.idle + after.iowait) - (before.idle + before.iowait)
    return round(100 * (psutil.cpu_count() or 1) * (1 - idle / total), 1) if total > 0 else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument(
        "--settle",
        type=float,
        default=7,
        help="seconds between runs: the previous run's clients are announced as left after the "
        "worker's LEAVE_GRACE (5 s); that storm of `user left` broadcasts must not land in the next run",
    )
    parser.add_argument("--transport", choices=("websocket", "polling"), default="websocket")
    parser.add_argument(
        "--alb-loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop of the ALB process (asyncio: what `chat-emulator up` runs today)",
    )
    parser.add_argument("--serve-alb", nargs="+", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_alb:
        if args.alb_loop == "uvloop":
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(serve_alb(args.serve_alb[0], args.serve_alb[1:]))
        else:
            asyncio.run(serve_alb(args.serve_alb[0], args.serve_alb[1:]))
        return 0
    return measure(args)


def measure(args: argparse.Namespace) -> int:
    logs = Path(os.environ.get("LOGDIR", "/tmp/chat-bench-logs"))
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        rp = free_port()
        redis = shutil.which("redis-server") or "redis-server"
        procs.append(
            start([redis, "--port", str(rp), "--bind", "127.0.0.1", "--save", ""], {}, logs / "r.log")
        )
        wait_port(rp)
        env = {"REDIS_ENDPOINT": "127.0.0.1", "REDIS_PORT": str(rp), "HOST": "127.0.0.1"}
        env |= {"MESSAGE_RATE": "10000", "MESSAGE_BURST": "20000", "LOG_LEVEL": "WARNING"}
        ports = [free_port(), free_port()]
        for port in ports:
            procs.append(
                start([sys.executable, "-m", "chat"], env | {"PORT": str(port)}, logs / f"w{port}.log")
            )
        alb_port = free_port()
        alb_cmd = [
            sys.executable,
            __file__,
            "--alb-loop",
            args.alb_loop,
            "--serve-alb",
            str(alb_port),
            *map(str, ports),
        ]
        procs.append(start(alb_cmd, {}, logs / "alb.log"))
        alb = procs[-1]
        for port in [*ports, alb_port]:
            wait_port(port)
        return compare(
            args, [f"http://127.0.0.1:{p}" for p in ports], f"http://127.0.0.1:{alb_port}", alb.pid
        )
    finally:
        stop_all(procs)


def compare(args: argparse.Namespace, direct: list[str], alb_url: str, alb_pid: int) -> int:
    rows: dict[str, list[dict[str, Any]]] = {"direct": [], "proxy": []}
    for rep in range(1, args.reps + 1):
        for mode, urls in (("direct", direct), ("proxy", [alb_url])):
            time.sleep(args.settle)
            before, t0, machine = cpu_s(alb_pid), time.monotonic(), psutil.cpu_times()
            r = load(urls, args)
            wall = time.monotonic() - t0
            r["alb_cpu_pct"] = round(100 * (cpu_s(alb_pid) - before) / wall, 1)
            r["machine_busy_pct"] = busy_pct(machine, psutil.cpu_times())
            rows[mode].append(r)
            lat = r["latency_ms"]
            print(
                f"rep {rep} {mode:6} deliveries/s={r['deliveries_per_s']} p50={lat['p50']} p99={lat['p99']} ms "
                f"loss={r['loss_pct']}% login p99={r['login_ms']['p99']} ms alb cpu={r['alb_cpu_pct']}% "
                f"loadgen cpu={r['cpu']['total_pct']}% machine busy={r['machine_busy_pct']}% ok={r['ok']}",
                flush=True,
            )

    def med(mode: str, *path: str) -> float:
        values = []
        for r in rows[mode]:
            v: Any = r
            for key in path:
                v = v[key]
            values.append(float(v))
        return statistics.median(values)

    tput = med("proxy", "deliveries_per_s") / med("direct", "deliveries_per_s")
    p99 = med("proxy", "latency_ms", "p99") / med("direct", "latency_ms", "p99")
    p50 = med("proxy", "latency_ms", "p50") / med("direct", "latency_ms", "p50")
    print(
        f"median proxy/direct: throughput {tput:.3f}x (target >= 0.90), p99 {p99:.2f}x (target <= 1.5), "
        f"p50 {p50:.2f}x; ALB CPU {med('proxy', 'alb_cpu_pct')} % of a core"
    )
    return 0 if tput >= 0.9 and p99 <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())

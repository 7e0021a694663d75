"""The project against Node socket.io 4, side by side on one machine, alternating: one command, from a clone.

Each run starts a private redis-server and one worker (`python -m chat`, or the Node reference server
`benchmarks/node/server.mjs`: socket.io 4 + @socket.io/redis-adapter, the seed's protocol and presence) on free
loopback ports, drives it with the load generator `benchmarks/node/loadgen.mjs` (the official socket.io-client,
one Node process), samples the worker's CPU time and memory at the load generator's marks, and stops everything
by PID. Runs alternate project / Node, the order flipped every rep; the table gives each server's median (the
lower median) and the ratio of each server to node. `--servers` adds the floors of `benchmarks/floor_server.py`
(idle and fanout scenarios): `floor-socketio`, stock python-socketio on uvicorn, and `floor-uvicorn`, a bare ASGI
app on uvicorn that only writes each broadcast's frame to every client, no Redis.

| scenario    | load                                                   | figures                                  |
|-------------|--------------------------------------------------------|------------------------------------------|
| fanout-200  | 200 clients, 10 senders x 10 msg/s (20k deliveries/s)  | worker CPU per delivery, p50/p99 latency |
| fanout-2000 | 2000 clients, 10 senders x 1 msg/s (20k deliveries/s)  | the same                                 |
| idle        | --idle-clients (2000) WebSocket connections, then idle | worker memory per connection (KB)        |
| login       | --login-clients (1000) clients connecting at once      | login p50/p99 (connect to `login`)       |

Worker CPU per delivery is the worker's CPU time over the measured window (after the warm-up) divided by the
`new message` events the clients received in that window. Memory per connection is the worker's RSS with the
idle clients connected minus its RSS with one probe client, over the count. The project's workers run with
MESSAGE_RATE / MESSAGE_BURST lifted (the per-connection rate limit must not be what is measured) and
MAX_CONNECTIONS above the count; everything else is their default.

Every run appends one JSON line to a new file, benchmarks/results/compare-<UTC time>.jsonl (--out), never an
existing one; `--summarize FILE...` prints the tables of earlier runs again. Needs node (>= 18) and npm:

    npm ci --prefix benchmarks/node
    .venv/bin/python benchmarks/compare.py                       # every scenario, 3 reps
    .venv/bin/python benchmarks/compare.py fanout-200 --reps 5   # one scenario
    .venv/bin/python benchmarks/compare.py idle --idle-clients 10000
    .venv/bin/python benchmarks/compare.py login --login-clients 5000
    .venv/bin/python benchmarks/compare.py fanout-200 --profile DIR   # + a py-spy profile of each project run
    .venv/bin/python benchmarks/compare.py fanout-200 --project-env DELIVERY_WINDOW_MS=20   # a project setting
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "benchmarks" / "node"
RESULTS = ROOT / "benchmarks" / "results"
NODE_PACKAGES = ("socket.io", "socket.io-client", "@socket.io/redis-adapter", "redis")
SERVERS = ("project", "node", "floor-socketio", "floor-uvicorn")
FLOORS = {"floor-socketio": "socketio", "floor-uvicorn": "uvicorn"}  # benchmarks/floor_server.py
SCENARIOS = ("fanout-200", "fanout-2000", "idle", "login")
PROJECT_LIMITS = {"MESSAGE_RATE": "100000", "MESSAGE_BURST": "100000"}
SHARED_ENV = {"HOST": "127.0.0.1", "PING_INTERVAL": "4", "PING_TIMEOUT": "8"}
INSTALL = "npm ci --prefix benchmarks/node"


class Missing(Exception):
    """Something the benchmark needs is not installed; the message says what to run."""


@dataclass(frozen=True)
class Scenario:
    name: str
    mode: str  # the load generator's mode: fanout or connect
    clients: int
    flags: tuple[str, ...]


def scenarios(args: argparse.Namespace) -> dict[str, Scenario]:
    timing: tuple[str, ...] = ("--warmup", str(args.warmup), "--duration", str(args.duration))
    timing += ("--drain", str(args.drain), "--settle", str(args.settle))
    defined = {
        "fanout-200": Scenario(
            "fanout-200", "fanout", 200, ("--senders", "10", "--rate", str(args.rate or 10), *timing)
        ),
        "fanout-2000": Scenario(
            "fanout-2000",
            "fanout",
            2000,
            ("--senders", "10", "--rate", str(args.rate or 1), "--concurrency", "200", *timing),
        ),
        "idle": Scenario(
            "idle",
            "connect",
            args.idle_clients,
            (
                "--concurrency",
                "200",
                "--settle",
                str(args.settle),
                *(() if args.idle_login else ("--no-login",)),
            ),
        ),
        "login": Scenario(
            "login", "connect", args.login_clients, ("--concurrency", "0", "--settle", str(args.settle))
        ),
    }
    if args.clients:  # a quick look (or a smoke test): every scenario at that many clients
        defined = {name: dataclasses.replace(s, clients=args.clients) for name, s in defined.items()}
    return defined


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", nargs="*", help=f"which to run: {', '.join(SCENARIOS)} or all (default)")
    parser.add_argument("--reps", type=int, default=3, help="runs of each server per scenario (default 3)")
    parser.add_argument(
        "--servers",
        default="project,node",
        help="comma-separated, from: project, node; for idle and fanout-* also floor-socketio (stock "
        "python-socketio on uvicorn) and floor-uvicorn (a bare ASGI app): benchmarks/floor_server.py",
    )
    parser.add_argument("--warmup", type=float, default=3, help="fanout: seconds sent before measuring")
    parser.add_argument("--duration", type=float, default=15, help="fanout: seconds measured")
    parser.add_argument(
        "--drain", type=float, default=3, help="fanout: seconds to wait for the last deliveries"
    )
    parser.add_argument(
        "--settle", type=float, default=2, help="seconds of quiet after the clients logged in"
    )
    parser.add_argument(
        "--rate", type=float, help="fanout: msg/s per sender (default: 10 at 200, 1 at 2000 clients)"
    )
    parser.add_argument(
        "--idle-clients", type=int, default=2000, help="idle: connections (the issue's: 10000)"
    )
    parser.add_argument(
        "--idle-login", action="store_true", help="idle: the clients also log in (join storm)"
    )
    parser.add_argument(
        "--login-clients", type=int, default=1000, help="login: clients at once (issue's: 5000)"
    )
    parser.add_argument("--clients", type=int, help="every scenario at this many clients (a quick look)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs `-m chat`")
    parser.add_argument(
        "--node", default=shutil.which("node") or "", help="the node binary (default: on PATH)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the new results file")
    parser.add_argument("--profile", type=Path, help="folder: py-spy records each project run's window there")
    parser.add_argument(
        "--native",
        action="store_true",
        help="--profile: C frames too (py-spy --native, which pauses the worker at each sample)",
    )
    parser.add_argument(
        "--project-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the project's worker (repeatable; recorded in each row), e.g. DELIVERY_WINDOW_MS=20",
    )
    parser.add_argument("--summarize", type=Path, nargs="+", metavar="FILE", help="print the tables of FILEs")
    args = parser.parse_args(argv)
    bad = [item for item in args.project_env if "=" not in item or not item.partition("=")[0]]
    if bad:
        parser.error(f"--project-env takes NAME=VALUE, not {bad[0]!r}")
    args.project_env = dict(item.split("=", 1) for item in args.project_env)
    unknown = set(args.scenario) - {*SCENARIOS, "all"}
    if unknown:
        parser.error(
            f"unknown scenario {', '.join(sorted(unknown))}: choose from {', '.join(SCENARIOS)}, all"
        )
    if not args.scenario or "all" in args.scenario:
        args.scenario = list(SCENARIOS)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.servers or set(args.servers) - set(SERVERS):
        parser.error(f"--servers: comma-separated names from {', '.join(SERVERS)}")
    floors = sorted(set(args.servers) & FLOORS.keys())
    if floors and ("login" in args.scenario or ("idle" in args.scenario and args.idle_login)):
        parser.error(f"{', '.join(floors)}: the floors count no users: not with login or --idle-login")
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def check_requirements(node: str, node_dir: Path = NODE_DIR, profile: bool = False) -> None:
    """Raise Missing, naming what to install, unless node, the node packages and redis-server are there."""
    if not node or (not Path(node).exists() and shutil.which(node) is None):
        raise Missing(f"node is not installed: install Node.js >= 18 with npm, then run `{INSTALL}`")
    absent = [name for name in NODE_PACKAGES if not (node_dir / "node_modules" / name).is_dir()]
    if absent:
        npm = "" if shutil.which("npm") else " (npm is not installed either: it comes with Node.js)"
        raise Missing(f"{', '.join(absent)} not installed in {node_dir}: run `{INSTALL}`{npm}")
    if shutil.which("redis-server") is None:
        raise Missing("redis-server is not installed (each run starts a private one)")
    if profile and py_spy() is None:
        raise Missing("--profile needs py-spy: `.venv/bin/pip install py-spy`")


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def results_file(folder: Path, now: datetime.datetime | None = None) -> Path:
    """A file that does not exist yet, named by the UTC time: committed results are never written over."""
    stamp = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%dT%H%M%SZ")
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = folder / (f"compare-{stamp}.jsonl" if n == 1 else f"compare-{stamp}-{n}.jsonl")
        try:
            path.open("x").close()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free results file name for {stamp} in {folder}")


def machine() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {
        "utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cores": os.cpu_count(),
        "loadavg": [round(one, 2), round(five, 2), round(fifteen, 2)],
    }


def code_version() -> str:
    """The commit the project's worker runs, and `+dirty` where chat/ differs from it."""

    def git(*command: str) -> str:
        done = subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--", "chat", "pyproject.toml") else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        stop(process)


def wait_until(ready: Any, what: str, process: subprocess.Popen[Any], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log.read_text()[-2000:]}")
        with suppress(OSError):
            if ready():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready in {timeout} s: {log.read_text()[-2000:]}")


def redis_ready(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


def http_ready(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
        return int(response.status) == 200


class Sampler:
    """CPU seconds and RSS of the worker, Redis and the load generator, and the whole machine's busy time."""

    def __init__(self, **pids: int) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}

    def sample(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": time.monotonic()}
        for name, process in self.processes.items():
            with suppress(psutil.Error):
                cpu = process.cpu_times()
                out[f"{name}_cpu_s"] = cpu.user + cpu.system
                out[f"{name}_rss"] = process.memory_info().rss
        total = psutil.cpu_times()
        out["machine_busy_s"] = sum(total) - total.idle - getattr(total, "iowait", 0.0)
        return out


def worker_command(server: str, args: argparse.Namespace) -> list[str]:
    if server == "project":
        return [args.python, "-m", "chat"]
    if server in FLOORS:
        return [args.python, str(ROOT / "benchmarks" / "floor_server.py"), FLOORS[server]]
    return [args.node, str(NODE_DIR / "server.mjs")]


def run_one(
    server: str, scenario: Scenario, rep: int, args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    """One run: private Redis, one worker, the load generator; the row for the results file."""
    row: dict[str, Any] = {
        "scenario": scenario.name,
        "server": server,
        "rep": rep,
        "clients": scenario.clients,
    }
    row["machine_before"] = machine()
    row["code"] = code_version()
    redis_port, port = free_port(), free_port()
    redis_log, worker_log = logs / f"redis-{redis_port}.log", logs / f"{server}-{port}.log"
    redis_cmd = [
        "redis-server",
        "--port",
        str(redis_port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    env = {**SHARED_ENV, "PORT": str(port), "REDIS_ENDPOINT": "127.0.0.1", "REDIS_PORT": str(redis_port)}
    if server == "project":
        env |= {**PROJECT_LIMITS, "MAX_CONNECTIONS": str(scenario.clients + 100), **args.project_env}
        if args.project_env:
            row["project_env"] = args.project_env
    loadgen = [
        args.node, str(NODE_DIR / "loadgen.mjs"), scenario.mode, "--url", f"http://127.0.0.1:{port}",
        "--clients", str(scenario.clients), *scenario.flags,
    ]  # fmt: skip
    with started(redis_cmd, {}, redis_log) as redis:
        wait_until(lambda: redis_ready(redis_port), "redis-server", redis, redis_log)
        with started(worker_command(server, args), env, worker_log) as worker:
            wait_until(lambda: http_ready(port), f"{server} worker", worker, worker_log)
            row["worker_pid"] = worker.pid
            loadgen_log = logs / f"loadgen-{port}.log"
            with loadgen_log.open("wb") as sink:
                generator = subprocess.Popen(loadgen, stdout=subprocess.PIPE, stderr=sink, cwd=NODE_DIR)
            try:
                sampler = Sampler(worker=worker.pid, redis=redis.pid, loadgen=generator.pid)
                marks, result, profiler = {}, None, None
                assert generator.stdout is not None
                for line in generator.stdout:
                    message = json.loads(line)
                    if "mark" in message:
                        marks[message["mark"]] = sampler.sample()
                        if message["mark"] == "measure-start" and args.profile and server == "project":
                            profiler = profile(worker.pid, scenario, rep, args)
                            row["profiled"] = True  # py-spy shares the machine: not a comparable run
                    elif "result" in message:
                        result = message["result"]
                generator.wait(60)
                if profiler is not None:
                    profiler.wait(args.duration + 30)
            finally:
                stop(generator)
            stderr = loadgen_log.read_text(errors="replace")
    row["machine_after"] = machine()
    row["loadgen_rc"] = generator.returncode
    if result is None:
        row["error"] = f"the load generator gave no result (rc {generator.returncode}): {stderr[-2000:]}"
        return row
    row["loadgen"] = result
    row.update(figures(scenario, result, marks))
    return row


def profile(pid: int, scenario: Scenario, rep: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    args.profile.mkdir(parents=True, exist_ok=True)
    stem = args.profile / f"{scenario.name}-rep{rep}"
    spy = py_spy()
    assert spy is not None
    command = [spy, "record", "--pid", str(pid), "--duration", str(int(args.duration)), "--rate", "200"]
    command += [
        "--format",
        "raw",
        "--output",
        f"{stem}.txt",
        *(["--native"] if args.native else ["--nonblocking"]),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def figures(scenario: Scenario, result: dict[str, Any], marks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The compared figures from the load generator's result and the samples taken at its marks."""
    out: dict[str, Any] = {"ok": bool(result.get("ok"))}
    login, connect = result.get("login_ms") or {}, result.get("connect_ms") or {}
    out["login_p50_ms"], out["login_p99_ms"] = login.get("p50"), login.get("p99")
    out["connect_p99_ms"], out["logged_in"] = connect.get("p99"), result.get("logged_in")
    if scenario.mode == "fanout" and {"measure-start", "measure-end"} <= marks.keys():
        a, b = marks["measure-start"], marks["measure-end"]
        wall = b["t"] - a["t"]
        deliveries = result.get("deliveries_in_window") or 0
        for name in ("worker", "redis", "loadgen"):
            if f"{name}_cpu_s" in a and f"{name}_cpu_s" in b:
                out[f"{name}_cpu_pct"] = round(100 * (b[f"{name}_cpu_s"] - a[f"{name}_cpu_s"]) / wall, 1)
        busy = 100 * (b["machine_busy_s"] - a["machine_busy_s"]) / wall
        ours = sum(out.get(f"{name}_cpu_pct", 0.0) for name in ("worker", "redis", "loadgen"))
        out["other_cpu_pct"] = round(max(0.0, busy - ours), 1)  # other people's processes: the noise
        if deliveries and "worker_cpu_s" in a and "worker_cpu_s" in b:
            out["us_per_delivery"] = round(1e6 * (b["worker_cpu_s"] - a["worker_cpu_s"]) / deliveries, 2)
        latency = result.get("latency_ms") or {}
        out["p50_ms"], out["p99_ms"] = latency.get("p50"), latency.get("p99")
        out["loss_pct"] = result.get("loss_pct")
        out["deliveries_per_s"] = result.get("deliveries_per_s")
    if scenario.mode == "connect" and {"baseline", "idle"} <= marks.keys():
        before, after = marks["baseline"].get("worker_rss"), marks["idle"].get("worker_rss")
        connected = result.get("connected") or 0
        if before and after and connected:
            out["kb_per_connection"] = round((after - before) / connected / 1000, 1)
            out["worker_rss_mb"] = round(after / 1e6, 1)
    return out


# the compared figures: (key, label, lower is better for all of them)
FIGURES = {
    "fanout": [("us_per_delivery", "worker CPU µs / delivery"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")],
    "idle": [("kb_per_connection", "KB / idle connection"), ("connect_p99_ms", "connect p99 ms")],
    "login": [("login_p50_ms", "login p50 ms"), ("login_p99_ms", "login p99 ms"), ("logged_in", "logged in")],
}  # fmt: skip


def median(values: list[Any]) -> float | None:
    present = [v for v in values if isinstance(v, int | float)]
    return statistics.median_low(present) if present else None


def value(row: dict[str, Any], key: str) -> Any:
    """A row's figure; rows written before a figure was added get it from the load generator's result."""
    if key in row:
        return row[key]
    result = row.get("loadgen") or {}
    fallback = {
        "connect_p99_ms": (result.get("connect_ms") or {}).get("p99"),
        "logged_in": result.get("logged_in"),
    }
    return fallback.get(key)


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per scenario, each server's runs and median of every figure, and each server's ratio to node."""
    lines: list[str] = []
    for name in dict.fromkeys(r["scenario"] for r in rows if "scenario" in r):
        runs = [r for r in rows if r.get("scenario") == name]
        kind = "fanout" if name.startswith("fanout") else name
        servers = list(dict.fromkeys(r["server"] for r in runs))
        clients = runs[0].get("clients")
        ok = {s: sum(1 for r in runs if r["server"] == s and r.get("ok")) for s in servers}
        lines += [
            f"\n{name} ({clients} clients): runs ok "
            + ", ".join(f"{s} {ok[s]}/{sum(r['server'] == s for r in runs)}" for s in servers)
        ]
        settings = list(dict.fromkeys(project_settings(r) for r in runs if r["server"] == "project"))
        if any(settings):
            lines += ["project settings: " + " | ".join(setting or "(defaults)" for setting in settings)]
        if len(settings) > 1:
            lines += ["(project runs with different settings are mixed below: summarize their files apart)"]
        compared = [s for s in servers if s != "node"] or ["project"]  # each against node
        lines += [
            "| figure | "
            + " | ".join(f"{s} (runs) | {s} median" for s in servers)
            + " | "
            + " | ".join(f"{s} / node" for s in compared)
            + " |"
        ]
        lines += ["|---" * (2 * len(servers) + 1 + len(compared)) + "|"]
        for key, label in FIGURES.get(kind, FIGURES["fanout"]):
            medians = {s: median([value(r, key) for r in runs if r["server"] == s]) for s in servers}
            cells = []
            for s in servers:
                each = ", ".join(
                    "-" if value(r, key) is None else f"{value(r, key):g}" for r in runs if r["server"] == s
                )
                cells += [each, "-" if medians[s] is None else f"{medians[s]:g}"]
            n = medians.get("node")
            ratios = [
                f"{medians[s] / n:.2f}x" if medians.get(s) is not None and n and key != "logged_in" else "-"
                for s in compared
            ]
            lines += [f"| {label} | " + " | ".join(cells) + f" | {' | '.join(ratios)} |"]
        others = [float(r["other_cpu_pct"]) for r in runs if r.get("other_cpu_pct") is not None]
        if others:
            lines += [f"other processes' CPU during the windows: {min(others):g}-{max(others):g} % of a core"]
    return "\n".join(lines)  # fmt: skip


def project_settings(row: dict[str, Any]) -> str:
    """The --project-env a row ran with, as `NAME=VALUE ...` ("" for the defaults)."""
    return " ".join(f"{name}={value}" for name, value in sorted((row.get("project_env") or {}).items()))


def read_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.summarize:
        print(table(read_rows(args.summarize)))
        return 0
    try:
        check_requirements(args.node, profile=args.profile is not None)
    except Missing as missing:
        print(f"benchmarks/compare.py: {missing}", file=sys.stderr)
        return 2
    path = results_file(args.out)
    logs = Path(os.environ.get("BENCH_LOGS", "/tmp/chat-compare-logs"))
    logs.mkdir(parents=True, exist_ok=True)
    start = machine()
    print(
        f"# {start['utc']}, {start['cores']} cores, load average {start['loadavg']}; rows: {path}", flush=True
    )
    print(f"# {' '.join([Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)])}", flush=True)
    rows: list[dict[str, Any]] = []
    defined = scenarios(args)
    failed = 0
    for name in args.scenario:
        for rep in range(1, args.reps + 1):
            order = args.servers if rep % 2 else list(reversed(args.servers))
            for server in order:
                row = run_one(server, defined[name], rep, args, logs)
                rows.append(row)
                with path.open("a") as out:
                    out.write(json.dumps(row) + "\n")
                failed += 0 if row.get("ok") else 1
                shown = {
                    k: row.get(k) for k in ("us_per_delivery", "p99_ms", "kb_per_connection", "login_p99_ms")
                }
                brief = " ".join(f"{k}={v}" for k, v in shown.items() if v is not None)
                print(
                    f"{name} rep {rep} {server}: ok={row.get('ok')} {brief} {row.get('error', '')}",
                    flush=True,
                )
    print(table(rows))
    end = machine()
    print(
        f"\n# {end['utc']}, load average {end['loadavg']}; {len(rows)} runs ({failed} not ok); rows: {path}"
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

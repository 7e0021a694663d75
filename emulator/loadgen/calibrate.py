"""What a connection and a message cost one real worker, measured with this load generator (`calibrate`).

One `python -m chat` subprocess on 127.0.0.1 (any free port; the machine's Redis through REDIS_ENDPOINT, as
the task definition sets it for ElastiCache, or the embedded fakeredis), watched with psutil (CPU seconds,
RSS) and through its own `GET /metrics` (`chat_deliveries_total`, `chat_messages_accepted_total`). Each repeat
starts a fresh worker and measures four windows:

1. base: no connection — the worker's RSS (`base_memory_mib`) and its idle CPU;
2. idle: `connections` logged-in WebSocket clients that send nothing — (RSS - base) / N is
   `memory_mib_per_connection`, (CPU/s - base CPU/s) / N is `vcpu_per_connection`;
3. low and 4. high: the same messages/s (`senders` x `rate`) to `low_clients`, then `high_clients` clients.
   Each gives one equation  CPU/s - base - C x vcpu_per_connection = D x per_delivery + M x per_message
   with D and M the worker's own delivery and accepted-message rates; the two solve for
   `cpu_seconds_per_delivery` and `cpu_seconds_per_message`.

Every window lasts a whole number of ping intervals, so each connection's heartbeats fall in it equally often.
The figures are the median over the repeats; `spread()` says how far the repeats lay apart.

The bytes are read off the wire once (`probe_wire`): two clients log in, one sends a message as the load
generator does, the other's delivered packet plus its WebSocket frame header is `bytes_per_delivery`; a ping
(server to client, unmasked) and its pong (client to server, masked) once per advertised ping interval are
`bytes_per_connection_second`. The ALB counts each of these bytes once as processed bytes.

This room may not import the simulator: the result is plain numbers (`Figures`, named as the cost model's
fields) that `emulator.commands.calibrate` turns into a cost-model file.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import aiohttp
import psutil

from emulator.loadgen import protocol as p
from emulator.loadgen.client import Client, Tally, now_us
from emulator.loadgen.procs import run_load
from emulator.loadgen.runner import LoadConfig
from emulator.tasks import TaskSet

EMBEDDED = "embedded"
DEFAULT_REDIS = "127.0.0.1:6379"
MIB = 1024 * 1024
PHASES = ("base", "idle", "low", "high")
LISTENING = re.compile(r"chat worker listening on (http://\S+)")


class CalibrationError(RuntimeError):
    """The measurement could not be made (worker did not start, clients could not log in, no Redis)."""


@dataclass(frozen=True)
class Plan:
    """What to measure: the loads, how long, how often, against which Redis."""

    connections: int = 1000  # idle, logged-in clients of the idle window
    duration: float = 20.0  # seconds per measured window, rounded to whole ping intervals (idle: >= 1)
    repeats: int = 3  # fresh workers, each measured through all four windows
    low_clients: int = 20
    high_clients: int = 200
    senders: int = 10
    rate: float = 5.0  # messages/s per sender (under the worker's MESSAGE_RATE, 10)
    warmup: float = 2.0  # unmeasured seconds of each load before its window
    base_s: float = 5.0  # the base window
    redis: str = DEFAULT_REDIS  # HOST[:PORT] of a Redis, or "embedded"

    def check(self) -> None:
        """Raise ValueError, one line, for a plan that cannot be measured."""
        if self.connections < 1 or self.repeats < 1:
            raise ValueError("need --connections >= 1 and --repeats >= 1")
        if not 1 <= self.senders <= self.low_clients < self.high_clients:
            raise ValueError("need 1 <= senders <= low clients < high clients")
        if self.rate <= 0 or self.duration <= 0 or self.warmup < 0 or self.base_s <= 0:
            raise ValueError("need --duration > 0 and a rate > 0")
        redis_host_port(self.redis)

    @property
    def messages_per_s(self) -> float:
        return self.senders * self.rate


QUICK = Plan(
    connections=200, duration=1.5, repeats=1, low_clients=10, high_clients=150, warmup=0.5, base_s=0.5
)


def redis_host_port(redis: str) -> tuple[str, int] | None:
    """`HOST[:PORT]` as (host, port), None for "embedded"; ValueError otherwise."""
    if redis == EMBEDDED:
        return None
    host, _, port = redis.partition(":")
    if not host or "/" in redis or (port and not port.isdigit()) or not 0 < int(port or 6379) < 65536:
        raise ValueError(f"--redis takes HOST[:PORT] or {EMBEDDED}, not {redis!r}")
    return host, int(port or 6379)


@dataclass(frozen=True)
class Point:
    """The worker at one instant: monotonic time, CPU seconds, RSS and its two counters."""

    t: float
    cpu_s: float
    rss_mib: float
    deliveries: float
    messages: float


@dataclass(frozen=True)
class Window:
    """One measured window of one repeat."""

    repeat: int
    phase: str  # base, idle, low, high
    clients: int
    start: Point
    end: Point

    @property
    def wall_s(self) -> float:
        return self.end.t - self.start.t

    @property
    def vcpu(self) -> float:
        """Worker CPU seconds per second over the window."""
        return (self.end.cpu_s - self.start.cpu_s) / self.wall_s

    @property
    def deliveries_per_s(self) -> float:
        return (self.end.deliveries - self.start.deliveries) / self.wall_s

    @property
    def messages_per_s(self) -> float:
        return (self.end.messages - self.start.messages) / self.wall_s

    @property
    def rss_mib(self) -> float:
        return self.end.rss_mib


@dataclass(frozen=True)
class Figures:
    """The measured figures, named as the cost model's fields."""

    cpu_seconds_per_delivery: float
    cpu_seconds_per_message: float
    vcpu_per_connection: float
    memory_mib_per_connection: float
    base_memory_mib: float
    bytes_per_delivery: float
    bytes_per_connection_second: float


FIGURES = tuple(f.name for f in fields(Figures))


@dataclass(frozen=True)
class Wire:
    """Sizes read off the wire, frame headers included."""

    delivery_frame_bytes: int  # a delivered `new message`, server to client
    message_frame_bytes: int  # the sender's `new message`, client to server (masked)
    heartbeat_bytes: int  # one ping and its pong
    ping_interval_s: float

    @property
    def bytes_per_connection_second(self) -> float:
        return self.heartbeat_bytes / self.ping_interval_s


@dataclass(frozen=True)
class Calibration:
    plan: Plan
    wire: Wire
    windows: tuple[Window, ...]
    runs: tuple[Figures, ...]  # one per repeat
    base_vcpu: float  # median CPU of a worker with no connection (not in the cost model)
    clamped: tuple[str, ...]  # figures a repeat measured below zero (noise) and that were taken as 0

    @property
    def figures(self) -> Figures:
        """The median of each figure over the repeats."""
        return Figures(**{name: statistics.median(getattr(r, name) for r in self.runs) for name in FIGURES})

    def spread(self, name: str) -> tuple[float, float]:
        values = [getattr(r, name) for r in self.runs]
        return min(values), max(values)

    def spread_pct(self, name: str) -> float:
        """(max - min) / median over the repeats, in %."""
        low, high = self.spread(name)
        middle = getattr(self.figures, name)
        return 100.0 * (high - low) / middle if middle > 0 else 0.0


# -- the worker ---------------------------------------------------------------------------------------


class Worker:
    """One `python -m chat` on 127.0.0.1 and a port of its choosing; stopped by its PID."""

    def __init__(self, redis: str, key_prefix: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_ENDPOINT", "REDIS_PORT")}
        env.update({"HOST": "127.0.0.1", "PORT": "0", "REDIS_KEY_PREFIX": key_prefix, "METRICS_PORT": ""})
        env["LEAVE_GRACE"] = "0"  # a load's users leave when it closes, not inside the next load's window
        target = redis_host_port(redis)
        if target is None:
            env["CHAT_REQUIRE_REDIS"] = "false"
        else:
            env["REDIS_ENDPOINT"], env["REDIS_PORT"] = target[0], str(target[1])
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - the worker writes it until stop() closes it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chat"], env=env, stdout=subprocess.DEVNULL, stderr=self._log
        )
        self.url = ""
        self._ps = psutil.Process(self.process.pid)

    def wait_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = LISTENING.search(self.log())
            if found:
                self.url = found.group(1)
                return
            if self.process.poll() is not None:
                raise CalibrationError(f"the worker exited ({self.process.returncode}): {self.log()[-400:]}")
            time.sleep(0.05)
        raise CalibrationError(f"the worker did not listen within {timeout:g} s")

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def cpu_seconds(self) -> float:
        """CPU seconds the worker used so far: to the nanosecond from Linux's per-thread schedstat, else psutil's
        cpu_times (whole clock ticks, 10 ms: too coarse for the short windows of a quick run)."""
        try:
            tasks = Path(f"/proc/{self.process.pid}/task")
            return sum(int((t / "schedstat").read_text().split()[0]) for t in tasks.iterdir()) / 1e9
        except (OSError, ValueError, IndexError):
            times = self._ps.cpu_times()
            return float(times.user + times.system)

    def point(self) -> Point:
        counters = self.counters()
        return Point(
            t=time.monotonic(),
            cpu_s=self.cpu_seconds(),
            rss_mib=self._ps.memory_info().rss / MIB,
            deliveries=counters.get("chat_deliveries_total", 0.0),
            messages=counters.get("chat_messages_accepted_total", 0.0),
        )

    def counters(self) -> dict[str, float]:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as resp:
            text: str = resp.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if line and not line.startswith("#") and "{" not in name:
                out[name] = float(value)
        return out

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _check_redis(redis: str) -> None:
    target = redis_host_port(redis)
    if target is None:
        return
    import redis as redis_client

    try:
        socket.create_connection(target, timeout=2).close()  # at once, where redis-py would retry
        redis_client.Redis(host=target[0], port=target[1], socket_connect_timeout=2).ping()
    except (OSError, redis_client.RedisError) as exc:
        raise CalibrationError(f"no Redis at {redis} ({exc}); --redis {EMBEDDED} runs without one") from None


def forget_keys(redis: str, key_prefix: str) -> None:
    """Remove what the worker left in a shared Redis (its stream and presence)."""
    target = redis_host_port(redis)
    if target is None:
        return
    import redis as redis_client

    client = redis_client.Redis(host=target[0], port=target[1], socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{key_prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    except redis_client.RedisError:
        pass
    finally:
        client.close()


# -- the wire -----------------------------------------------------------------------------------------


def frame_bytes(payload_bytes: int, masked: bool) -> int:
    """A WebSocket text frame's size on the wire: header (RFC 6455 5.2) plus payload."""
    header = 2 if payload_bytes < 126 else 4 if payload_bytes < 65536 else 10
    return header + (4 if masked else 0) + payload_bytes


class _Capture(Tally):
    """Keeps the first delivered `new message` packet."""

    def __init__(self) -> None:
        super().__init__(run="probe")
        self.packet: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_new_message(self, client: Client, packet: str) -> None:
        if not self.packet.done():
            self.packet.set_result(packet)


async def _probe(url: str, run: str) -> Wire:
    tally = _Capture()
    reading = TaskSet()
    async with aiohttp.ClientSession() as session:
        # names as long as the load's senders' (ld0-0..ld0-9), that the load's clients never take
        sender, receiver = (
            Client(0, url, tally, name_prefix="prb-"),
            Client(1, url, tally, name_prefix="prb-"),
        )
        try:
            for client in (sender, receiver):
                await client.connect(session, 10.0)
                reading.spawn(client.read_loop(), f"calibrate-probe-{client.index}")
            sent = p.event("new message", p.mark(run, 0, 0, now_us(), ""))
            await sender.send(sent)
            packet = await asyncio.wait_for(tally.packet, 10.0)
        finally:
            await sender.close()
            await receiver.close()
            await reading.cancel_all()
    handshake = receiver.handshake
    assert handshake is not None
    return Wire(
        delivery_frame_bytes=frame_bytes(len(packet.encode()), masked=False),
        message_frame_bytes=frame_bytes(len(sent.encode()), masked=True),
        heartbeat_bytes=frame_bytes(len(p.PING), masked=False) + frame_bytes(len(p.PONG), masked=True),
        ping_interval_s=handshake.ping_interval_ms / 1000.0,
    )


def probe_wire(url: str, run: str = "calibrat") -> Wire:
    """The wire sizes of a delivery and of a heartbeat, read from the worker at `url`."""
    try:
        return asyncio.run(_probe(url, run))
    except (OSError, TimeoutError, aiohttp.ClientError) as exc:
        raise CalibrationError(f"the wire probe failed: {exc!r}") from None


# -- the windows --------------------------------------------------------------------------------------


def _base_window(worker: Worker, repeat: int, seconds: float) -> Window:
    start = worker.point()
    time.sleep(seconds)
    return Window(repeat, "base", 0, start, worker.point())


def _load_window(
    worker: Worker, plan: Plan, repeat: int, phase: str, clients: int, senders: int, window_s: float
) -> Window:
    """One load against the worker; its clients' names (ld1-0, ...) differ from the previous load's, whose
    names the worker still holds for LEAVE_GRACE after they dropped."""
    points: dict[str, Point] = {}

    def on_window(edge: str) -> None:
        points[edge] = worker.point()

    config = LoadConfig(
        urls=(worker.url,),
        clients=clients,
        senders=senders,
        rate=plan.rate,
        duration=window_s,
        warmup=plan.warmup,
        drain=0.3,
        run=uuid.uuid4().hex[:8],
        name_prefix=f"ld{PHASES.index(phase)}-",
    )
    report = run_load(config, on_window=on_window)
    result = report.result
    if result.logged_in < clients or "end" not in points:
        why = result.error_samples[0] if result.error_samples else "no measured window"
        raise CalibrationError(f"{phase}: {result.logged_in} of {clients} clients logged in: {why}")
    if result.disconnects:
        raise CalibrationError(
            f"{phase}: {result.disconnects} clients were disconnected: {result.error_samples[:1]}"
        )
    return Window(repeat, phase, clients, points["start"], points["end"])


def _whole_intervals(seconds: float, interval: float) -> float:
    """`seconds` rounded to whole ping intervals; left as it is when shorter than one (a quick run)."""
    return seconds if seconds < interval else round(seconds / interval) * interval


def solve(windows: Sequence[Window], wire: Wire) -> tuple[Figures, float, list[str]]:
    """One repeat's figures from its four windows: (figures, base vCPU, names taken as 0 from below 0)."""
    by = {w.phase: w for w in windows}
    base, idle, low, high = by["base"], by["idle"], by["low"], by["high"]
    clamped: list[str] = []

    def at_least_zero(name: str, value: float) -> float:
        if value < 0:
            clamped.append(name)
            return 0.0
        return value

    per_connection = at_least_zero("vcpu_per_connection", (idle.vcpu - base.vcpu) / idle.clients)
    # CPU/s - base - C x per_connection = D x per_delivery + M x per_message, for low and high
    y1 = low.vcpu - base.vcpu - low.clients * per_connection
    y2 = high.vcpu - base.vcpu - high.clients * per_connection
    d1, m1, d2, m2 = low.deliveries_per_s, low.messages_per_s, high.deliveries_per_s, high.messages_per_s
    det = d1 * m2 - d2 * m1
    if m1 <= 0 or m2 <= 0 or abs(det) < 1e-9 * max(1.0, d1 * m2):
        raise CalibrationError(
            f"the two loads cannot be told apart (D={d1:.0f}/{d2:.0f}/s, M={m1:.0f}/{m2:.0f}/s)"
        )
    per_delivery = (y1 * m2 - y2 * m1) / det
    per_message = (d1 * y2 - d2 * y1) / det
    figures = Figures(
        cpu_seconds_per_delivery=at_least_zero("cpu_seconds_per_delivery", per_delivery),
        cpu_seconds_per_message=at_least_zero("cpu_seconds_per_message", per_message),
        vcpu_per_connection=per_connection,
        memory_mib_per_connection=at_least_zero(
            "memory_mib_per_connection", (idle.rss_mib - base.rss_mib) / idle.clients
        ),
        base_memory_mib=base.rss_mib,
        bytes_per_delivery=float(wire.delivery_frame_bytes),
        bytes_per_connection_second=wire.bytes_per_connection_second,
    )
    return figures, base.vcpu, clamped


def calibrate(plan: Plan, on_phase: Callable[[str], None] | None = None) -> Calibration:
    """Measure: `plan.repeats` fresh workers through the four windows each. Raises CalibrationError."""
    plan.check()
    say = on_phase or (lambda _text: None)
    _check_redis(plan.redis)
    windows: list[Window] = []
    runs: list[Figures] = []
    base_vcpus: list[float] = []
    clamped: list[str] = []
    wire: Wire | None = None
    for repeat in range(plan.repeats):
        prefix = f"calibrate-{uuid.uuid4().hex[:10]}"
        worker = Worker(plan.redis, prefix)
        try:
            worker.wait_listening()
            if wire is None:
                say(f"wire: probing {worker.url}")
                wire = probe_wire(worker.url)
                time.sleep(0.5)  # the probe's two clients leave before the base window
            window_s = _whole_intervals(plan.duration, wire.ping_interval_s)
            idle_s = _whole_intervals(max(plan.duration, wire.ping_interval_s), wire.ping_interval_s)
            mine: list[Window] = []
            say(f"repeat {repeat + 1}/{plan.repeats}: base, {plan.base_s:g} s")
            mine.append(_base_window(worker, repeat, plan.base_s))
            say(f"repeat {repeat + 1}/{plan.repeats}: {plan.connections} idle connections, {idle_s:g} s")
            mine.append(_load_window(worker, plan, repeat, "idle", plan.connections, 0, idle_s))
            for phase, clients in (("low", plan.low_clients), ("high", plan.high_clients)):
                say(
                    f"repeat {repeat + 1}/{plan.repeats}: {clients} clients, "
                    f"{plan.senders} x {plan.rate:g} msg/s, {window_s:g} s"
                )
                mine.append(_load_window(worker, plan, repeat, phase, clients, plan.senders, window_s))
        finally:
            worker.stop()
            forget_keys(plan.redis, prefix)
        figures, base_vcpu, dropped = solve(mine, wire)
        windows += mine
        runs.append(figures)
        base_vcpus.append(base_vcpu)
        clamped += dropped
    assert wire is not None
    return Calibration(
        plan=plan,
        wire=wire,
        windows=tuple(windows),
        runs=tuple(runs),
        base_vcpu=statistics.median(base_vcpus),
        clamped=tuple(sorted(set(clamped))),
    )


def describe_machine() -> str:
    """CPU model, cores, OS: what a calibration file says it was measured on."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"

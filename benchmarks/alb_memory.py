"""The emulator's ALB under one large upload, then one large download: how much memory the proxy needs.

Starts, each in a process of its own, a sink target (asyncio + h11: reads request bodies, counts and discards
them, answers `200` with the count; `GET /download/N` answers N bytes, made on the fly) and the emulator's load
balancer (`emulator.alb.LoadBalancer`, as `chat-emulator up` runs it) in front of it. Then sends one chunked
POST of `--megabytes` (default 300 MB) through the proxy, in `--chunk-kib` chunks made on the fly (this process
never holds the body either), and downloads as much, while sampling the proxy's RSS with psutil every few
milliseconds. Prints the proxy's RSS before, its peak during each transfer (psutil samples; and the kernel's
high-water mark over the proxy's whole life, where /proc has one), and after, and whether every byte arrived.
Stops what it started by PID.

    .venv/bin/python benchmarks/alb_memory.py [--megabytes 300] [--chunk-kib 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import h11
import psutil

ROOT = Path(__file__).resolve().parents[1]
READ_SIZE = 256 * 1024
MB = 1_000_000


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


# -- the sink target -------------------------------------------------------------------------------
async def _sink_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    conn = h11.Connection(h11.SERVER)
    received = download = 0
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(READ_SIZE))
            elif isinstance(event, h11.Request) and event.target.startswith(b"/download/"):
                download = int(event.target.rsplit(b"/", 1)[1])
            elif isinstance(event, h11.Data):
                received += len(event.data)
            elif isinstance(event, h11.EndOfMessage) and download:
                await _send_download(conn, writer, download)
                return
            elif isinstance(event, h11.EndOfMessage):
                body = str(received).encode()
                response = h11.Response(status_code=200, headers=[("Content-Length", str(len(body)))])
                writer.write(
                    conn.send(response) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
                )
                await writer.drain()
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
                received = 0
            elif isinstance(event, h11.ConnectionClosed):
                return
    except (ConnectionError, h11.ProtocolError):
        return
    finally:
        writer.close()


async def _send_download(conn: h11.Connection, writer: asyncio.StreamWriter, total: int) -> None:
    writer.write(conn.send(h11.Response(status_code=200, headers=[("Content-Length", str(total))])) or b"")
    chunk = bytes(range(256)) * 256
    sent = 0
    while sent < total:
        piece = chunk if total - sent >= len(chunk) else chunk[: total - sent]
        writer.write(conn.send(h11.Data(data=piece)) or b"")
        sent += len(piece)
        await writer.drain()
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()


async def serve_sink(port: int) -> None:
    server = await asyncio.start_server(_sink_connection, "127.0.0.1", port)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


# -- the load balancer process ---------------------------------------------------------------------
async def serve_alb(port: int, target_port: int) -> None:
    from emulator.alb import HealthCheckResult, LoadBalancer, TargetGroup
    from emulator.clock import WallClock
    from emulator.model import TargetGroupSettings

    settings = TargetGroupSettings(target_group_arn="bench", port=target_port, stickiness_enabled=True)
    tg = TargetGroup(settings, WallClock())
    tg.register("sink", "127.0.0.1", target_port)
    for _ in range(settings.health_check.healthy_threshold_count):
        tg.record_health("sink", HealthCheckResult(ok=True))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with LoadBalancer(tg, port=port):
        await stop.wait()
    await tg.close()


# -- the client ------------------------------------------------------------------------------------
class RssSampler:
    """Polls a process's RSS from a thread and keeps the largest value seen."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def rss(self) -> int:
        rss: int = self.process.memory_info().rss
        return rss

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def high_water_mark(pid: int) -> int | None:
    """The kernel's peak RSS for `pid` (Linux VmHWM), in bytes; None where /proc has no such line."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


async def upload(port: int, total: int, chunk_size: int) -> tuple[int, bytes, float]:
    """One chunked POST of `total` bytes; returns (status, body, seconds)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = h11.Connection(h11.CLIENT)
    head = h11.Request(
        method="POST",
        target="/upload",
        headers=[("Host", f"127.0.0.1:{port}"), ("Transfer-Encoding", "chunked")],
    )
    chunk = bytes(range(256)) * (chunk_size // 256)
    started = time.perf_counter()
    writer.write(conn.send(head) or b"")
    sent = 0
    while sent < total:
        piece = chunk if total - sent >= len(chunk) else chunk[: total - sent]
        writer.write(conn.send(h11.Data(data=piece)) or b"")
        sent += len(piece)
        await writer.drain()
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()
    status, body = 0, b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(READ_SIZE))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    elapsed = time.perf_counter() - started
    writer.close()
    return status, body, elapsed


async def download(port: int, total: int) -> tuple[int, int, float]:
    """One GET of `total` bytes, read and discarded; returns (status, bytes received, seconds)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(method="GET", target=f"/download/{total}", headers=[("Host", f"127.0.0.1:{port}")])
    writer.write((conn.send(request) or b"") + (conn.send(h11.EndOfMessage()) or b""))
    status = received = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(READ_SIZE))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            received += len(event.data)
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    elapsed = time.perf_counter() - started
    writer.close()
    return status, received, elapsed


def start(role: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--role", role, *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    for proc in reversed(procs):
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:.1f} MiB"


def run(megabytes: int, chunk_kib: int) -> int:
    sink_port, alb_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(start("sink", "--port", str(sink_port)))
        wait_port(sink_port)
        procs.append(start("alb", "--port", str(alb_port), "--target", str(sink_port)))
        wait_port(alb_port)
        alb_pid = procs[-1].pid
        total = megabytes * MB
        print(
            f"proxy PID {alb_pid}: {megabytes} MB up (chunked, {chunk_kib} KiB chunks), then {megabytes} MB down"
        )
        with RssSampler(alb_pid) as up:
            before = up.rss()
            status, body, elapsed = asyncio.run(upload(alb_port, total, chunk_kib * 1024))
        up_ok = status == 200 and body == str(total).encode()
        print(f"  POST: {status}, target received {body.decode() or '?'} of {total} bytes in {elapsed:.1f} s")
        with RssSampler(alb_pid) as down:
            status, received, elapsed = asyncio.run(download(alb_port, total))
        down_ok = status == 200 and received == total
        print(f"  GET:  {status}, client received {received} of {total} bytes in {elapsed:.1f} s")
        time.sleep(0.2)
        every = f"{up.interval * 1000:.0f} ms"
        rows = [
            ("proxy RSS before:", mib(before)),
            ("proxy RSS peak, upload:", f"{mib(up.peak)} (psutil, sampled every {every})"),
            ("proxy RSS peak, download:", mib(down.peak)),
            ("proxy VmHWM:", f"{mib(high_water_mark(alb_pid))} (kernel high-water mark, whole life)"),
            ("proxy RSS after:", mib(down.rss())),
        ]
        for label, value in rows:
            print(f"  {label:<27}{value}")
        if not (up_ok and down_ok):
            print("  FAILED: a body did not arrive whole")
        return 0 if up_ok and down_ok else 1
    finally:
        stop(procs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=300, help="size of the POST body (10^6 bytes)")
    parser.add_argument("--chunk-kib", type=int, default=64, help="size of each chunk the client sends")
    parser.add_argument("--role", choices=["client", "sink", "alb"], default="client", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "sink":
        asyncio.run(serve_sink(args.port))
        return 0
    if args.role == "alb":
        asyncio.run(serve_alb(args.port, args.target))
        return 0
    return run(args.megabytes, args.chunk_kib)


if __name__ == "__main__":
    sys.exit(main())

"""Worker memory against clients that abuse its limits: each scenario's RSS before, at its peak and after, and what
the worker did about it.

Starts one `python -m chat` worker (embedded Redis unless --redis-url; WS_COMPRESSION=true, so compressed and
uncompressed clients meet the same worker) and runs, one after the other:

- `big-frames`:    ten WebSocket messages announcing 16 MiB each (uvicorn's default ws_max_size), sent in full
- `polling-stall`: a long-polling client that joins, keeps its heartbeat (POSTs) and never GETs, while another
                   client sends --messages messages of --size characters
- `deflate-stall`: a permessage-deflate WebSocket client that joins and never reads, while the sender sends
                   --messages / 10 messages of 40 000 random base64 characters (deflate cannot shrink them much)
- `idle-sessions`: --sessions Engine.IO sessions that answer heartbeats but never send a Socket.IO CONNECT; what
                   is still open is counted CONNECT_TIMEOUT + 3 s after the last one opened

    .venv/bin/python benchmarks/worker_memory.py
    .venv/bin/python benchmarks/worker_memory.py --redis-url redis://127.0.0.1:6379/0 --worker-per-scenario

With the embedded Redis the stream itself (every message sent, kept for the recovery window) lives in the worker,
so its RSS grows with what the sender sends: give a real Redis to see the worker's own memory.

Run it from another checkout (PYTHONPATH=that/checkout) to measure another version of the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import aiohttp
import psutil
import websockets

EIO_WS = "/socket.io/?EIO=4&transport=websocket"
EIO_POLLING = "/socket.io/?EIO=4&transport=polling"
MiB = 2**20


def unique(name: str) -> str:
    """A user name no earlier run holds (names are unique across the cluster while their owner is online)."""
    return f"{name}-{os.urandom(3).hex()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Row:
    scenario: str
    before: float
    peak: float
    after: float
    outcome: str


class Worker:
    def __init__(self, port: int, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.process = process
        self.ps = psutil.Process(process.pid)
        self.peak = 0

    def rss(self) -> int:
        rss: int = self.ps.memory_info().rss
        self.peak = max(self.peak, rss)
        return rss

    def fds(self) -> int:
        return self.ps.num_fds()

    async def metrics(self, http: aiohttp.ClientSession) -> dict[str, float]:
        async with http.get(f"http://127.0.0.1:{self.port}/metrics") as r:
            text = await r.text()
        return {
            line.split()[0]: float(line.split()[1])
            for line in text.splitlines()
            if line and not line.startswith("#") and "{" not in line
        }


async def measure(worker: Worker, name: str, scenario: Any, settle: float = 2.0) -> Row:
    """Run `scenario(worker)` while sampling the worker's RSS; `after` is taken `settle` s after it returns."""
    before = worker.rss()
    worker.peak = before
    sampling = True

    async def sample() -> None:
        while sampling:
            worker.rss()
            await asyncio.sleep(0.05)

    sampler = asyncio.ensure_future(sample())
    try:
        outcome = await scenario(worker)
    finally:
        sampling = False
        await sampler
    await asyncio.sleep(settle)
    return Row(name, before / MiB, worker.peak / MiB, worker.rss() / MiB, outcome)


# ---- the clients -----------------------------------------------------------------------------------------


async def raw_websocket(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {EIO_WS} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    return reader, writer


async def close_code(reader: asyncio.StreamReader, timeout: float = 30) -> str:
    """Read frames until a close frame (its code) or the end of the connection."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                first, second = await reader.readexactly(2)
                size = second & 0x7F
                if size == 126:
                    size = struct.unpack("!H", await reader.readexactly(2))[0]
                elif size == 127:
                    size = struct.unpack("!Q", await reader.readexactly(8))[0]
                payload = await reader.readexactly(size)
                if first & 0x0F == 8:
                    return str(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else "close"
    except (asyncio.IncompleteReadError, ConnectionError):
        return "dropped"
    except TimeoutError:
        return "still open"


async def big_frames(worker: Worker) -> str:
    codes: list[str] = []
    most = 0
    chunk = b"x" * (64 * 1024)
    for _ in range(10):
        reader, writer = await raw_websocket(worker.port)
        size = 16 * MiB
        # a zero mask key: the payload is sent as it is (valid UTF-8 text "4xxx...", an Engine.IO message)
        writer.write(bytes((0x81, 0x80 | 127)) + struct.pack("!Q", size) + b"\0\0\0\0" + b"4")
        answer = asyncio.ensure_future(close_code(reader))  # read while sending, as a real client would
        sent = 1
        with contextlib.suppress(
            TimeoutError
        ):  # a moment for an answer to the header (else a reset hides it)
            await asyncio.wait_for(asyncio.shield(answer), 0.2)
        try:
            while sent < size and not answer.done():
                part = chunk[: size - sent]
                writer.write(part)
                sent += len(part)
                await writer.drain()
        except ConnectionError:
            pass
        codes.append(await answer)
        most = max(most, sent)
        writer.close()
    counts = ", ".join(f"{code} x{codes.count(code)}" for code in sorted(set(codes)))
    return f"close: {counts}; at most {most / MiB:.1f} of 16 MiB sent before the answer"


class Sender:
    """A logged-in WebSocket client that sends messages and waits for their acks, 50 at a time."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.refused = 0  # acks that were not {"ok": true}

    @classmethod
    async def connect(cls, port: int) -> Sender:
        ws = await websockets.connect(f"ws://127.0.0.1:{port}{EIO_WS}", max_size=None, compression=None)
        await ws.recv()
        await ws.send("40")
        await ws.recv()
        sender = cls(ws)
        await sender.send(["add user", unique("sender")])
        if sender.refused:
            raise RuntimeError("the sender's login was refused")
        return sender

    async def send(self, *events: list[Any]) -> None:
        waiting = set()
        for event in events:
            self.next_id += 1
            waiting.add(f"43{self.next_id}[")
            await self.ws.send(f"42{self.next_id}{json.dumps(event)}")
        while waiting:
            message = await asyncio.wait_for(self.ws.recv(), 30)
            if message == "2":
                await self.ws.send("3")
            elif isinstance(message, str) and message.startswith("43"):
                head, _, body = message.partition("[")
                if f"{head}[" in waiting:
                    waiting.discard(f"{head}[")
                    self.refused += json.loads(f"[{body}")[0].get("ok") is not True

    async def flood(self, texts: Any, batch: int = 50) -> None:
        pending: list[list[Any]] = []
        for text in texts:
            pending.append(["new message", text])
            if len(pending) == batch:
                await self.send(*pending)
                pending = []
        if pending:
            await self.send(*pending)


async def polling_stall(worker: Worker, messages: int, size: int) -> str:
    base = f"http://127.0.0.1:{worker.port}{EIO_POLLING}"
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as r:
            sid = json.loads((await r.text())[1:])["sid"]
        session = f"{base}&sid={sid}"
        for body in ("40", None, json.dumps(["add user", unique("poller")]).join(("42", ""))):
            if body is None:
                async with http.get(session) as r:
                    await r.read()
            else:
                async with http.post(session, data=body) as r:
                    await r.read()
        stop = asyncio.Event()

        async def heartbeat() -> None:  # pongs by POST only: the session stays alive, nothing is ever read
            while not stop.is_set():
                async with http.post(session, data="3") as r:
                    await r.read()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2)

        beating = asyncio.ensure_future(heartbeat())
        sender = await Sender.connect(worker.port)
        try:
            text = "x" * (size - 6)
            await sender.flood(f"{i:5d} {text}" for i in range(messages))
            await asyncio.sleep(1)
            metrics = await worker.metrics(http)
        finally:
            stop.set()
            await beating
            await sender.ws.close()
        async with http.get(session) as r:
            status = r.status
    cut = metrics.get("chat_slow_consumers_cut_total", 0)
    return (
        f"{messages * size / MiB:.1f} MiB sent ({sender.refused} refused); cut off: {int(cut)}; "
        f"its next GET: {status}"
    )


async def deflate_stall(worker: Worker, messages: int) -> str:
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", worker.port))
    stalled = await websockets.connect(
        f"ws://127.0.0.1:{worker.port}{EIO_WS}", sock=raw, compression="deflate", max_size=None, max_queue=4
    )
    await stalled.recv()
    await stalled.send("40")
    await stalled.recv()
    await stalled.send("42" + json.dumps(["add user", unique("stalled")]))
    deflate = "yes" if stalled.protocol.extensions else "NOT negotiated"
    sender = await Sender.connect(worker.port)
    try:
        await sender.flood((base64.b64encode(os.urandom(30000)).decode() for _ in range(messages)), batch=10)
        await asyncio.sleep(1)
        async with aiohttp.ClientSession() as http:
            metrics = await worker.metrics(http)
    finally:
        await sender.ws.close()
        stalled.transport.abort()
    cut = metrics.get("chat_slow_consumers_cut_total", 0)
    return (
        f"deflate {deflate}; {messages * 40000 / MiB:.1f} MiB sent ({sender.refused} refused); "
        f"slow clients cut off so far: {int(cut)}"
    )


async def idle_sessions(worker: Worker, count: int, connect_timeout: float) -> str:
    opened: list[Any] = []
    refused = 0
    for _ in range(count):
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{worker.port}{EIO_WS}", compression=None)
            await ws.recv()
            opened.append(ws)
        except (OSError, websockets.WebSocketException):
            refused += 1

    async def answer_pings(ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in ws:
                if message == "2":
                    await ws.send("3")

    answering = [asyncio.ensure_future(answer_pings(ws)) for ws in opened]
    fds_peak = worker.fds()
    worker.rss()
    await asyncio.sleep(connect_timeout + 3)  # after the last one opened
    still_open = sum(1 for task in answering if not task.done())
    fds_after = worker.fds()
    for ws in opened:
        ws.transport.abort()
    await asyncio.gather(*answering, return_exceptions=True)
    return (
        f"{len(opened)} opened, {refused} refused; worker fds {fds_peak} -> {fds_after}; "
        f"still open {connect_timeout + 3:g} s after the last opened: {still_open}"
    )


# ---- main ------------------------------------------------------------------------------------------------


async def start_worker(args: argparse.Namespace, prefix: str) -> Worker:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    env.update(
        PORT=str(port),
        HOST="127.0.0.1",
        WS_COMPRESSION="true",
        MESSAGE_RATE="100000",
        MESSAGE_BURST="100000",
        MAX_MESSAGE_LENGTH="50000",
        CONNECT_TIMEOUT=str(args.connect_timeout),
        # a client that never reads never answers a heartbeat either: long ones, so that the limits act first
        PING_INTERVAL="20",
        PING_TIMEOUT="60",
        REDIS_KEY_PREFIX=prefix,
        LOG_LEVEL="ERROR",
    )
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    process = subprocess.Popen([sys.executable, "-m", "chat"], env=env, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        break
            await asyncio.sleep(0.05)
    return Worker(port, process)


def stop_worker(worker: Worker) -> None:
    worker.process.terminate()
    worker.process.wait(10)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--messages", type=int, default=5000, help="polling-stall messages (deflate: a tenth)"
    )
    parser.add_argument("--size", type=int, default=1900)
    parser.add_argument("--sessions", type=int, default=1500)
    parser.add_argument("--connect-timeout", type=float, default=10.0, help="the worker's CONNECT_TIMEOUT")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument(
        "--worker-per-scenario",
        action="store_true",
        help="a fresh worker for each scenario (memory one scenario freed does not hide the next one's growth)",
    )
    args = parser.parse_args()

    prefix = f"bench-worker-memory-{os.getpid()}"
    scenarios = [
        ("big-frames", big_frames),
        ("polling-stall", lambda w: polling_stall(w, args.messages, args.size)),
        ("deflate-stall", lambda w: deflate_stall(w, max(1, args.messages // 10))),
        ("idle-sessions", lambda w: idle_sessions(w, args.sessions, args.connect_timeout)),
    ]
    rows: list[Row] = []
    worker: Worker | None = None
    try:
        for name, scenario in scenarios:
            if worker is None:
                worker = await start_worker(args, prefix)
            rows.append(await measure(worker, name, scenario))
            print(f"  {name}: done", file=sys.stderr, flush=True)
            if args.worker_per_scenario:
                stop_worker(worker)
                worker = None
    finally:
        if worker is not None:
            stop_worker(worker)
        if args.redis_url:  # leave nothing behind in someone's Redis
            import redis

            client = redis.Redis.from_url(args.redis_url)
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)
    print(f"{'scenario':<14} {'RSS before':>11} {'peak':>9} {'after':>9}  what the worker did")
    for row in rows:
        print(
            f"{row.scenario:<14} {row.before:>7.1f} MiB {row.peak:>5.1f} MiB {row.after:>5.1f} MiB  {row.outcome}"
        )


if __name__ == "__main__":
    asyncio.run(main())

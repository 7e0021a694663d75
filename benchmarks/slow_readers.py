"""Worker memory with clients that stop reading: bounded by MAX_UNSENT_BYTES, not by how much is sent.

Starts one `python -m chat` worker (embedded Redis unless --redis-url), connects N "stalled" clients that log in and
then never read again (small receive windows, so the backlog stays on the worker), and one sender that sends
--messages messages of --size characters; prints the worker's RSS over time and its /metrics counters. Run it with
the default limit and with a huge one to see the difference:

    .venv/bin/python benchmarks/slow_readers.py
    .venv/bin/python benchmarks/slow_readers.py --max-unsent-bytes 1000000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from typing import Any

import aiohttp
import psutil
import websockets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def stalled_client(port: int, name: str) -> Any:
    """Log in over a WebSocket, then never read again (a small receive window keeps the backlog on the worker;
    the client library stops reading once its own small queue is full)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket", sock=raw, max_size=None, max_queue=4
    )
    await ws.recv()
    await ws.send("40")
    await ws.recv()
    await ws.send(f'42["add user","{name}"]')
    return ws


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stalled", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--size", type=int, default=1900)
    parser.add_argument(
        "--max-unsent-bytes", type=int, default=None, help="worker setting (default: its own)"
    )
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    env.update(
        PORT=str(port),
        HOST="127.0.0.1",
        MESSAGE_RATE="100000",
        MESSAGE_BURST="100000",
        PING_INTERVAL="60",
        REDIS_KEY_PREFIX=f"bench-slow-readers-{os.getpid()}",
        PING_TIMEOUT="60",
        LOG_LEVEL="WARNING",
    )
    if args.max_unsent_bytes is not None:
        env["MAX_UNSENT_BYTES"] = str(args.max_unsent_bytes)
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    worker = subprocess.Popen([sys.executable, "-m", "chat"], env=env, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
    proc = psutil.Process(worker.pid)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            rss0 = proc.memory_info().rss
            stalled = [await stalled_client(port, f"stalled{i}") for i in range(args.stalled)]
            async with http.ws_connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket") as ws:
                await ws.receive()
                await ws.send_str("40")
                await ws.receive()
                await ws.send_str('42["add user","sender"]')
                text = "x" * args.size
                started = time.monotonic()
                peak = rss0
                print(
                    f"worker RSS at start: {rss0 / 2**20:.1f} MiB; {args.stalled} stalled clients; "
                    f"sending {args.messages} x {args.size} chars = {args.messages * args.size / 2**20:.1f} MiB each"
                )
                for i in range(args.messages):
                    await ws.send_str(f'42["new message","{i} {text}"]')
                    if i % 50 == 0:
                        await asyncio.sleep(0)
                    if i % 500 == 0:
                        rss = proc.memory_info().rss
                        peak = max(peak, rss)
                        print(f"  after {i:5d} messages: RSS {rss / 2**20:7.1f} MiB")
                await asyncio.sleep(2)
                rss = proc.memory_info().rss
                peak = max(peak, rss)
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    metrics = {
                        line.split()[0]: line.split()[1]
                        for line in (await r.text()).splitlines()
                        if line and not line.startswith("#")
                    }
            print(
                f"end: RSS {rss / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB "
                f"(+{(peak - rss0) / 2**20:.1f} MiB over start) in {time.monotonic() - started:.1f} s"
            )
            print(
                f"slow clients cut off: {metrics.get('chat_slow_consumers_cut_total')} of {args.stalled}; "
                f"messages accepted: {metrics.get('chat_messages_accepted_total')}; "
                f"deliveries: {metrics.get('chat_deliveries_total')}; users: {metrics.get('chat_users')}"
            )
            for ws in stalled:
                ws.transport.abort()
    finally:
        worker.terminate()
        worker.wait(10)
        if args.redis_url:  # leave nothing behind in someone's Redis
            import redis

            client = redis.Redis.from_url(args.redis_url)
            for key in client.scan_iter(f"{env['REDIS_KEY_PREFIX']}:*"):
                client.delete(key)


if __name__ == "__main__":
    asyncio.run(main())

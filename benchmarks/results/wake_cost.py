"""What waking up costs this machine: CPU time per sleep, per Redis round trip back to back and paced; and what
one long pipeline holds the event loop for.

Why it matters: at 100 messages a second the worker goes idle between messages, and each message wakes it (the
sender's frame, the XADD reply, the XREAD reply). On a virtual machine an idle-to-busy wake-up costs far more CPU
than the same work done back to back (cold caches, the hypervisor's timer and IPI exits), which is why gathering
broadcasts (`DELIVERY_WINDOW_MS`) saves more than its count of `write(2)` calls suggests. Process CPU time
(user + system) per operation, one process, asyncio on uvloop for redis-py:

The last figures are the reason `chat.redis_backend.UPKEEP_CHUNK` exists: redis-py packs a pipeline and parses its
replies without yielding, so a worker's event loop (and every broadcast) waits for the whole of it.

    .venv/bin/python benchmarks/results/wake_cost.py [--redis-url redis://127.0.0.1:6379/0] [-n 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import redis.asyncio as aioredis
import uvloop

PACE = 0.005  # seconds idle between operations in the paced runs (a message every 5-10 ms is the benchmark's rate)


def cpu_per(n: int, operation: Callable[[], None]) -> float:
    start = time.process_time()
    for _ in range(n):
        operation()
    return (time.process_time() - start) / n * 1e6


async def cpu_per_async(n: int, operation: Callable[[], Awaitable[object]], pace: float) -> float:
    start = time.process_time()
    for _ in range(n):
        await operation()
        if pace:
            await asyncio.sleep(pace)
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("-n", type=int, default=1000, help="operations per figure")
    args = parser.parse_args()
    where = urlsplit(args.redis_url)
    host, port = where.hostname or "127.0.0.1", where.port or 6379

    print(f"sleep {PACE * 1000:g} ms: {cpu_per(args.n, lambda: time.sleep(PACE)):.0f} µs CPU per sleep")
    with socket.create_connection((host, port)) as raw:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def ping() -> None:
            raw.sendall(b"PING\r\n")
            raw.recv(64)

        def paced_ping() -> None:
            ping()
            time.sleep(PACE)

        back_to_back, paced = cpu_per(args.n, ping), cpu_per(args.n, paced_ping)
        print(f"raw socket PING: {back_to_back:.0f} µs back to back, {paced:.0f} µs paced (sleep included)")

    async def redis_py() -> tuple[float, float]:
        client = aioredis.Redis.from_url(args.redis_url)
        await client.ping()
        try:
            return (
                await cpu_per_async(args.n, client.ping, 0),
                await cpu_per_async(args.n, client.ping, PACE),
            )
        finally:
            await client.aclose()

    back_to_back, paced = uvloop.run(redis_py())
    print(
        f"redis-py PING (uvloop): {back_to_back:.0f} µs back to back, {paced:.0f} µs paced (sleep included)"
    )

    async def pipelines() -> None:
        client = aioredis.Redis.from_url(args.redis_url)
        keys = [f"wake-cost:{n}" for n in range(50)]
        try:
            for commands in (200, 2000, 10_000):
                start = time.process_time()
                async with client.pipeline(transaction=False) as pipe:
                    for n in range(commands):
                        pipe.hsetnx(keys[n % len(keys)], "field", "value")
                    await pipe.execute()
                cpu = time.process_time() - start
                print(
                    f"one pipeline of {commands} HSETNX: {cpu * 1000:.1f} ms CPU, {cpu / commands * 1e6:.0f} µs each"
                )
        finally:
            await client.delete(*keys)
            await client.aclose()

    uvloop.run(pipelines())


if __name__ == "__main__":
    main()

"""Where an idle WebSocket connection's memory goes: one chat worker in this process, N idle clients (Engine.IO
over WebSocket, Socket.IO CONNECT done, no login, answering the heartbeat) from a child process; the worker's RSS
per connection, and with --trace tracemalloc's breakdown of what the connections allocated (by line, by package).

    .venv/bin/python benchmarks/results/idle_breakdown.py -n 2000            # RSS per connection
    .venv/bin/python benchmarks/results/idle_breakdown.py -n 1000 --trace    # + the breakdown (slower, bigger)

Needs a Redis at 127.0.0.1:6379 (REDIS_ENDPOINT / REDIS_PORT to change it); its keys get a random prefix.
tracemalloc's own bookkeeping makes the traced process's RSS larger: read the traced total, not its RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import sys
import time
import tracemalloc
import uuid

import psutil

MASK = b"\x00\x00\x00\x00"


def client_frame(text: bytes) -> bytes:
    return bytes((0x81, 0x80 | len(text))) + MASK + text


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(2)
    size = head[1] & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    elif size == 127:
        size = int.from_bytes(await reader.readexactly(8), "big")
    return await reader.readexactly(size)


async def idle_client(host: str, port: int, ready: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await reader.readuntil(b"\r\n\r\n")
    assert (await read_frame(reader)).startswith(b"0")  # Engine.IO OPEN
    writer.write(client_frame(b"40"))
    assert (await read_frame(reader)).startswith(b"40")  # Socket.IO CONNECT answered
    ready.append(1)
    while True:
        if await read_frame(reader) == b"2":  # PING
            writer.write(client_frame(b"3"))


async def clients_main(host: str, port: int, count: int) -> None:
    ready: list[int] = []
    tasks: list[asyncio.Task[None]] = []
    for start in range(0, count, 100):
        tasks += [asyncio.create_task(idle_client(host, port, ready)) for _ in range(min(100, count - start))]
        while len(ready) < len(tasks):
            await asyncio.sleep(0.01)
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
    print("ready", len(ready), flush=True)
    await asyncio.gather(*tasks)


async def open_clients(port: int, count: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--clients",
        "127.0.0.1",
        str(port),
        str(count),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    if not line.startswith(b"ready"):
        raise RuntimeError(f"the clients did not connect: {line!r}")
    return proc


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def package_of(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0]
    if "/chat/" in filename:
        return "chat"
    if "python3." in filename:
        return "stdlib " + filename.split("/python3.")[1].split("/", 1)[1]
    return filename.rsplit("/", 1)[-1]


async def worker_main(args: argparse.Namespace) -> None:
    from chat.config import Settings
    from chat.server import ChatWorker

    worker = ChatWorker(Settings.from_env())
    await worker.start()
    probe = await open_clients(worker.port, 1)
    await asyncio.sleep(2)
    if args.trace:
        tracemalloc.start(1)
    before, first = rss(), tracemalloc.take_snapshot() if args.trace else None
    started = time.monotonic()
    clients = await open_clients(worker.port, args.n)
    await asyncio.sleep(6)  # past a heartbeat
    after, second = rss(), tracemalloc.take_snapshot() if args.trace else None
    n = args.n
    print(
        f"{n} idle connections: RSS {(after - before) / n / 1024:.1f} KB per connection, "
        f"{len(asyncio.all_tasks()) / (n + 1):.2f} tasks per connection, connected in {time.monotonic() - started:.1f} s"
    )
    if first is not None and second is not None:
        by_line = second.compare_to(first, "lineno")
        print(f"traced: {sum(s.size_diff for s in by_line) / n / 1024:.1f} KB per connection; top lines:")
        for stat in by_line[: args.top]:
            frame = stat.traceback[0]
            where = frame.filename.split("site-packages/")[-1].split("/python3.11/")[-1]
            print(f"  {stat.size_diff / n:7.0f} B {stat.count_diff / n:6.2f} blocks  {where}:{frame.lineno}")
        packages: collections.Counter[str] = collections.Counter()
        for stat in second.compare_to(first, "filename"):
            packages[package_of(stat.traceback[0].filename)] += stat.size_diff
        print("by package:")
        for name, size in packages.most_common(12):
            print(f"  {size / n:7.0f} B  {name}")
    for proc in (clients, probe):
        proc.kill()
        await proc.wait()
    await asyncio.sleep(3)  # the connections close before the worker goes
    await worker.kill()


def main() -> None:
    if sys.argv[1:2] == ["--clients"]:
        asyncio.run(clients_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=2000, help="idle connections (2000)")
    parser.add_argument("--trace", action="store_true", help="tracemalloc's breakdown")
    parser.add_argument("--top", type=int, default=25, help="lines shown with --trace (25)")
    args = parser.parse_args()
    os.environ.update(
        PORT="0",
        HOST="127.0.0.1",
        REDIS_KEY_PREFIX=f"idle-breakdown-{uuid.uuid4().hex[:8]}",
        MESSAGE_RATE="100000",
        MESSAGE_BURST="100000",
        MAX_CONNECTIONS="50000",
        PING_INTERVAL="4",
        PING_TIMEOUT="8",
        LOG_LEVEL="ERROR",
    )
    os.environ.setdefault("REDIS_ENDPOINT", "127.0.0.1")
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(worker_main(args))


if __name__ == "__main__":
    main()

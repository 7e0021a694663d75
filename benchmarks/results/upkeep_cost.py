"""What one worker's periodic upkeep costs it: the CPU and wall time of one presence refresh (every
`PING_INTERVAL`, all logged-in users and the names they hold) and of one session refresh (every 5 heartbeats,
every session), for N users, against a real Redis.

    .venv/bin/python benchmarks/results/upkeep_cost.py [--users 2000] [--repeats 5] [--redis-url URL]
    .venv/bin/python benchmarks/results/upkeep_cost.py --code /tmp/old   # the chat/ of another checkout

`--code DIR` imports `chat` from DIR (e.g. a `git worktree` of an older commit), so two versions are measured with
one command on one machine. Process CPU (user + system) and wall time per call, sorted, over `--repeats` calls;
keys under the prefix `upkeep-cost:` are deleted at the end. At 2000 users the presence refresh runs every 4 s and
the session refresh every 20 s: CPU per second of upkeep = presence / 4 + sessions / 20.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

PREFIX = "upkeep-cost"


async def timed(repeats: int, call: Callable[[], Awaitable[Any]]) -> tuple[list[float], list[float]]:
    cpu, wall = [], []
    for _ in range(repeats):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        await call()
        cpu.append((time.process_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start_wall) * 1000)
    return sorted(cpu), sorted(wall)


async def measure(args: argparse.Namespace) -> None:
    import redis.asyncio as aioredis

    from chat.presence import Presence
    from chat.sessions import Sessions

    client = aioredis.Redis.from_url(args.redis_url)
    presence, sessions = Presence(client, PREFIX, 8), Sessions(client, PREFIX, 120)
    users = {f"name{n}": f"sid{n}" for n in range(args.users)}
    try:
        for name, sid in users.items():
            await presence.join(sid)
            await presence.claim_name(name, sid)
        # the names argument was a mapping before the upkeep scripts, (name, sid) pairs since
        pairs = "Iterable" in str(inspect.signature(presence.heartbeat).parameters["names"].annotation)
        names: Any = users.items() if pairs else users
        runs = {
            "presence refresh": lambda: presence.heartbeat(list(users.values()), names),
            "session refresh": lambda: sessions.refresh(
                (sid, {"sid": sid, "username": name, "last": ""}) for name, sid in users.items()
            ),
        }
        for label, call in runs.items():
            cpu, wall = await timed(args.repeats, call)
            print(
                f"{label}, {args.users} users: CPU ms {', '.join(f'{v:.1f}' for v in cpu)}; "
                f"wall ms {', '.join(f'{v:.1f}' for v in wall)}"
            )
    finally:
        keys = [key async for key in client.scan_iter(f"{PREFIX}:*")]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
        await client.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--code", default="", help="a checkout whose chat/ to import (default: this one)")
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, args.code)
    import chat

    print(f"# chat from {chat.__file__}; {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    import uvloop

    uvloop.install()
    asyncio.run(measure(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

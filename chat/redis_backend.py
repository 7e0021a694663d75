"""Redis clients for the chat: a real server (redis://, rediss:// with TLS and AUTH) or embedded fakeredis.

In-process workers (the emulator's default) share one `fakeredis.FakeServer`, so they see one Redis exactly as
separate tasks see one ElastiCache node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import redis.asyncio as aioredis

if TYPE_CHECKING:
    import fakeredis

T = TypeVar("T")

# Users (presence's names) or sessions one call of periodic upkeep refreshes. Upkeep was a pipeline of commands, and
# redis-py packs a pipeline and parses its replies without yielding, about 30 µs a command on the project's machine
# (`benchmarks/results/wake_cost.py`: one pipeline of 10,000 HSETNX took 0.31 s of CPU), so the session refresh at
# 2000 connections held the event loop, and every broadcast behind it, for most of a second. Upkeep is now one Lua
# script per chunk (`chat.presence.REFRESH_NAMES`, `chat.sessions.REFRESH_SESSIONS`), and chunks still leave the loop
# to the reader in between: one script over 200 sessions is about 1000 commands inside Redis, and the worker
# waits about 1.4 ms for it (benchmarks/results/upkeep_cost.py: wall minus CPU time over its 10 calls).
UPKEEP_CHUNK = 200


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of up to `size` (itertools.batched arrives with Python 3.12)."""
    if size < 1:
        raise ValueError("size must be at least one")
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def stop_if_cancelled() -> None:
    """Raise CancelledError when the running task is being cancelled. On Python 3.11 the `asyncio.wait_for` redis-py
    puts around each socket write drops a cancel that lands just as the write completes (the command then runs to
    its end): a loop over Redis calls this at the top of each turn, or a worker's stop could wait for it forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def as_text(value: Any) -> str:
    """A Redis reply (bytes, or str with decode_responses) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisFactory:
    """Makes Redis clients for one URL, or for an embedded fakeredis server when the URL is None."""

    def __init__(self, url: str | None, fake_server: fakeredis.FakeServer | None = None) -> None:
        self.url = url
        self.fake_server = fake_server if url is None and fake_server is not None else None
        if url is None and self.fake_server is None:
            self.fake_server = embedded().FakeServer()

    def client(self, socket_timeout: float = 5.0) -> aioredis.Redis:
        """A client; `socket_timeout` must exceed the longest blocking command it sends (XREAD BLOCK).

        Its pool waits for a free connection instead of failing: a burst of logins (hundreds in flight) would
        otherwise hit redis-py's default of 100 connections and be refused with MaxConnectionsError."""
        if self.fake_server is not None:
            fake: aioredis.Redis = embedded().aioredis.FakeRedis(
                server=self.fake_server,
                connection_pool_class=aioredis.BlockingConnectionPool,
                max_connections=MAX_CONNECTIONS,
                timeout=POOL_TIMEOUT,
            )
            return fake
        assert self.url is not None
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url,
            socket_connect_timeout=2,
            socket_timeout=socket_timeout,
            health_check_interval=10,
            socket_keepalive=True,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_TIMEOUT,
        )
        return aioredis.Redis.from_pool(pool)


def embedded() -> Any:
    """The fakeredis module, imported only for the embedded default (importing it costs a worker about 20 MB), and
    only with the Lua runtime that presence's and the sessions' upkeep scripts need."""
    import fakeredis

    try:
        import lupa  # noqa: F401  (fakeredis runs EVAL through it)
    except ImportError as exc:
        raise RuntimeError(
            "the embedded Redis needs lupa to run the upkeep scripts: pip install 'fakeredis[lua]'"
        ) from exc
    return fakeredis


MAX_CONNECTIONS = 200  # per client
POOL_TIMEOUT = 10  # seconds to wait for a free connection

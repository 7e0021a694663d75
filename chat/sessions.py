"""Sessions that outlive a connection, for connection-state recovery on any worker.

One Redis hash per private session id (`pid`, never shown to other users): `<prefix>:session:<pid>` holding
the username, the Socket.IO sid that owns the session now, and the last accepted message's fingerprint (to drop
a retried duplicate). It expires `window` seconds after its worker last refreshed it: a client that comes back
within the window, to any worker, is recovered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis


def fingerprint(message: str) -> str:
    return hashlib.blake2b(message.encode(), digest_size=12).hexdigest()


class Sessions:
    def __init__(self, client: aioredis.Redis, key_prefix: str, window_seconds: float) -> None:
        self.client = client
        self.prefix = f"{key_prefix}:session:"
        self.ttl = max(1, int(window_seconds))

    def key(self, pid: str) -> str:
        return self.prefix + pid

    async def load(self, pid: str) -> dict[str, str] | None:
        raw: dict[Any, Any] = await self.client.hgetall(self.key(pid))
        if not raw:
            return None
        return {_text(k): _text(v) for k, v in raw.items()}

    async def save(self, pid: str, **fields: str) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(self.key(pid), mapping=dict[Any, Any](fields))
            pipe.expire(self.key(pid), self.ttl)
            await pipe.execute()

    def save_in(self, pipe: Any, pid: str, **fields: str) -> None:
        """Queue a `save` on a pipeline another command is using (one round trip for both)."""
        pipe.hset(self.key(pid), mapping=dict[Any, Any](fields))
        pipe.expire(self.key(pid), self.ttl)

    async def refresh(self, sessions: Iterable[tuple[str, dict[str, str]]]) -> None:
        """Keep live sessions alive: (pid, fields) rewritten with a fresh TTL, so a Redis that restarted empty
        gets them back."""
        async with self.client.pipeline(transaction=False) as pipe:
            for pid, fields in sessions:
                self.save_in(pipe, pid, **fields)
            if len(pipe):
                await pipe.execute()

    async def drop(self, pid: str) -> None:
        await self.client.delete(self.key(pid))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

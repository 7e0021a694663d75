"""Cluster-wide presence in Redis: who is logged in, on any worker, and how many.

One sorted set `<prefix>:presence`: member = Socket.IO session id, score = last-seen time in ms. Each worker
re-scores all its logged-in users in one ZADD every heartbeat interval (the Engine.IO ping interval), and
sweeps entries older than the TTL (the seed's 8 s). So:

- numUsers is ZCOUNT over (now - ttl, +inf]: O(log N), the same at 100k users as at 10;
- a join is ZADD + ZCOUNT, a leave ZREM + ZCOUNT, in one round trip each;
- the users of a worker that was killed stop counting after the TTL, and are swept soon after.

Usernames are unique among the logged-in users: `<prefix>:name:<casefolded name>` holds the owner's session id
with the same TTL, claimed with `SET NX` at login, refreshed by the owner's heartbeat and released at logout, so
the name of a crashed worker's user frees itself after the TTL.

Workers compare their own wall clocks (NTP-synced on Fargate); a skew well under the TTL is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis

from chat.redis_backend import UPKEEP_CHUNK, as_text, batched, pipelined


class Presence:
    def __init__(
        self,
        client: aioredis.Redis,
        key_prefix: str,
        ttl_seconds: float,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.key = f"{key_prefix}:presence"
        self.name_prefix = f"{key_prefix}:name:"
        self.ttl_ms = int(ttl_seconds * 1000)
        self._now = now

    def _now_ms(self) -> int:
        return int(self._now() * 1000)

    async def join(self, sid: str) -> int:
        """Count `sid` in, and return the cluster-wide number of users."""
        now = self._now_ms()
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(self.key, {sid: now})
            pipe.zcount(self.key, f"({now - self.ttl_ms}", "+inf")
            _, count = await pipe.execute()
        return int(count)

    async def leave(self, sid: str) -> int:
        """Count `sid` out, and return the cluster-wide number of users."""
        now = self._now_ms()
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zrem(self.key, sid)
            pipe.zcount(self.key, f"({now - self.ttl_ms}", "+inf")
            _, count = await pipe.execute()
        return int(count)

    async def count(self) -> int:
        now = self._now_ms()
        return int(await self.client.zcount(self.key, f"({now - self.ttl_ms}", "+inf"))

    def name_key(self, name: str) -> str:
        return self.name_prefix + name.casefold()

    async def claim_name(self, name: str, sid: str, previous: str = "") -> bool:
        """Take `name` for `sid`; False when another logged-in user holds it (compared case-insensitively).

        `previous` is the private session id the same client had before a reconnection that could not be
        recovered: the name it held then is its own."""
        key = self.name_key(name)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.set(key, sid, nx=True, px=self.ttl_ms)
            pipe.get(key)
            _, owner = await pipe.execute()
        if owner is None or as_text(owner) not in (sid, previous or sid):
            return False
        await self.client.set(key, sid, px=self.ttl_ms)  # a fresh TTL, and a predecessor's name taken over
        return True

    async def release_name(self, name: str, sid: str) -> None:
        """Free `name` if `sid` still holds it."""
        key = self.name_key(name)
        owner = await self.client.get(key)
        if owner is not None and as_text(owner) == sid:
            await self.client.delete(key)

    async def heartbeat(self, sids: Iterable[str], names: Mapping[str, str] | None = None) -> int:
        """Refresh this worker's users (and the names they hold: name -> sid, kept only where nobody else took
        them meanwhile) and sweep stale entries; returns how many were swept."""
        now = self._now_ms()
        mapping = dict.fromkeys(sids, now)
        held = list((names or {}).items())
        if mapping:  # first, before any await: a user who logs out meanwhile is not put back
            await self.client.zadd(self.key, mapping)
        owners: list[Any] = []
        for chunk in batched(held, UPKEEP_CHUNK):
            owners += await self.client.mget([self.name_key(name) for name, _ in chunk])
        mine = [
            (name, sid, owner is None)
            for (name, sid), owner in zip(held, owners, strict=True)
            if owner is None or as_text(owner) == sid
        ]

        def refresh(pipe: Any, name_sid_missing: tuple[str, str, bool]) -> None:
            # a name Redis lost (or that expired) is taken back only if nobody claimed it meanwhile; one of ours
            # only gets a fresh TTL (nothing if it was released meanwhile: the user left)
            name, sid, missing = name_sid_missing
            if missing:
                pipe.set(self.name_key(name), sid, nx=True, px=self.ttl_ms)
            else:
                pipe.pexpire(self.name_key(name), self.ttl_ms)

        await pipelined(self.client, mine, refresh, UPKEEP_CHUNK)  # the loop serves broadcasts in between
        return int(await self.client.zremrangebyscore(self.key, "-inf", now - self.ttl_ms))

    async def forget(self, sids: Iterable[str]) -> None:
        """Remove several users at once (a worker stopping gracefully)."""
        members = list(sids)
        if members:
            await self.client.zrem(self.key, *members)

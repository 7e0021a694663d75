"""Cluster-wide presence in Redis: who is logged in, on any worker, and how many.

One sorted set `<prefix>:presence`: member = Socket.IO session id, score = last-seen time in ms. Each worker
re-scores all its logged-in users in one ZADD every heartbeat interval (the Engine.IO ping interval), and
sweeps entries older than the TTL (the seed's 8 s). So:

- numUsers is ZCOUNT over (now - ttl, +inf]: O(log N), the same at 100k users as at 10;
- a join is ZADD + ZCOUNT, a leave ZREM + ZCOUNT, in one round trip each;
- the users of a worker that was killed stop counting after the TTL, and are swept soon after.

Usernames are unique among the logged-in users: `<prefix>:name:<casefolded name>` holds the owner's session id
with the same TTL, claimed with `SET NX` at login, refreshed by the owner's heartbeat and released at logout, so
the name of a crashed worker's user frees itself after the TTL. The heartbeat refreshes its worker's names with
one Lua script per chunk of names (`REFRESH_NAMES`: each name checked and refreshed atomically, in Redis), not a
command per name: at 2000 users redis-py's packing and parsing of those commands was a tenth of the worker's CPU.

Workers compare their own wall clocks (NTP-synced on Fargate); a skew well under the TTL is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import redis.asyncio as aioredis

from chat.redis_backend import UPKEEP_CHUNK, as_text, batched

# KEYS[i]: a name's key; ARGV[1]: the TTL in ms; ARGV[i + 1]: the session that holds KEYS[i] on this worker.
# Still ours: a fresh TTL. Gone (it expired, or Redis restarted empty): ours again, nobody claimed it meanwhile.
# Anyone else's: left as it is.
REFRESH_NAMES = """
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
  elseif not owner then
    redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1])
  end
end
return #KEYS
"""


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
        self._refresh_names = client.register_script(REFRESH_NAMES)  # EVALSHA; loaded again after a restart

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

    async def heartbeat(self, sids: Iterable[str], names: Iterable[tuple[str, str]] = ()) -> int:
        """Refresh this worker's users and the names they hold (`(name, sid)` pairs, read one chunk at a time:
        a lazy iterable leaves out a user who logged out while earlier chunks went to Redis), and sweep stale
        entries; returns how many were swept. A name is refreshed only where nobody else took it meanwhile."""
        now = self._now_ms()
        mapping = dict.fromkeys(sids, now)
        if mapping:  # first, before any await: a user who logs out meanwhile is not put back
            await self.client.zadd(self.key, mapping)
        for chunk in batched(names, UPKEEP_CHUNK):  # the loop serves broadcasts between two chunks
            keys = [self.name_key(name) for name, _ in chunk]
            await self._refresh_names(keys=keys, args=[self.ttl_ms, *(sid for _, sid in chunk)])
        return int(await self.client.zremrangebyscore(self.key, "-inf", now - self.ttl_ms))

    async def forget(self, sids: Iterable[str]) -> None:
        """Remove several users at once (a worker stopping gracefully)."""
        members = list(sids)
        if members:
            await self.client.zrem(self.key, *members)

"""Sessions that outlive a connection, for connection-state recovery on any worker.

One Redis hash per private session id (`pid`, never shown to other users): `<prefix>:session:<pid>` holding
the username, the Socket.IO sid that owns the session now, and the last accepted message's fingerprint (to drop
a retried duplicate of a message sent without an id); and one list `<prefix>:ids:<pid>` of the last `RECENT_IDS`
message ids the session had accepted (exactly-once sends: a resend of any of them is acknowledged, not sent
again). Both expire `window` seconds after their worker last refreshed them: a client that comes back within the
window, to any worker, is recovered.

The periodic refresh writes back what a Redis that restarted empty lost and extends both TTLs with one Lua script
per chunk of sessions (`REFRESH_SESSIONS`) instead of five commands a session through redis-py (its packing and
parsing of them cost the worker more than the work in Redis).
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

from chat.redis_backend import UPKEEP_CHUNK, as_text, batched

RECENT_IDS = 256  # message ids remembered per session: more than any client keeps in flight

# Per session, KEYS[2k - 1] its hash and KEYS[2k] its list of ids; ARGV[1] the TTL in seconds, then per session the
# number of its fields and that many field, value pairs: each field written only where the hash lacks it (a stale
# connection never takes a session back from a newer one), then both keys get the TTL again.
REFRESH_SESSIONS = """
local at = 2
for k = 1, #KEYS, 2 do
  local fields = tonumber(ARGV[at])
  for f = 1, fields do
    redis.call('HSETNX', KEYS[k], ARGV[at + 2 * f - 1], ARGV[at + 2 * f])
  end
  at = at + 1 + 2 * fields
  redis.call('EXPIRE', KEYS[k], ARGV[1])
  redis.call('EXPIRE', KEYS[k + 1], ARGV[1])
end
return #KEYS / 2
"""


class RecentIds:
    """The last `limit` message ids a session had accepted, oldest first. Nothing is allocated before the first
    id (every idle connection holds one of these)."""

    __slots__ = ("_ids", "_limit", "_order")

    def __init__(self, ids: Iterable[str] = (), limit: int = RECENT_IDS) -> None:
        self._limit = limit
        self._order: collections.deque[str] | None = None
        self._ids: set[str] | None = None
        for message_id in ids:
            self.add(message_id)

    def __contains__(self, message_id: object) -> bool:
        return self._ids is not None and message_id in self._ids

    def add(self, message_id: str) -> None:
        if self._order is None or self._ids is None:
            self._order, self._ids = collections.deque(maxlen=self._limit), set()
        elif message_id in self._ids:
            return
        if len(self._order) == self._limit:
            self._ids.discard(self._order[0])
        self._order.append(message_id)
        self._ids.add(message_id)


def fingerprint(message: str) -> str:
    return hashlib.blake2b(message.encode(), digest_size=12).hexdigest()


class Sessions:
    def __init__(self, client: aioredis.Redis, key_prefix: str, window_seconds: float) -> None:
        self.client = client
        self.prefix = f"{key_prefix}:session:"
        self.ttl = max(1, int(window_seconds))
        self.ids_prefix = f"{key_prefix}:ids:"
        self._refresh = client.register_script(REFRESH_SESSIONS)  # EVALSHA; loaded again after a restart

    def key(self, pid: str) -> str:
        return self.prefix + pid

    def ids_key(self, pid: str) -> str:
        return self.ids_prefix + pid

    async def recent_ids(self, pid: str) -> list[str]:
        raw: list[Any] = await self.client.lrange(self.ids_key(pid), 0, -1)
        return [as_text(v) for v in raw]

    def remember_in(self, pipe: Any, pid: str, message_id: str) -> None:
        """Queue: `message_id` was accepted (on a pipeline the message's XADD uses: one round trip)."""
        key = self.ids_key(pid)
        pipe.rpush(key, message_id)
        pipe.ltrim(key, -RECENT_IDS, -1)
        pipe.expire(key, self.ttl)

    async def load(self, pid: str) -> dict[str, str] | None:
        raw: dict[Any, Any] = await self.client.hgetall(self.key(pid))
        if not raw:
            return None
        return {as_text(k): as_text(v) for k, v in raw.items()}

    async def save(self, pid: str, **fields: str) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(self.key(pid), mapping=dict[Any, Any](fields))
            pipe.expire(self.key(pid), self.ttl)
            await pipe.execute()

    def restore_in(self, pipe: Any, pid: str, **fields: str) -> None:
        """Queue: write `fields` where the session lacks them (Redis restarted empty), never over newer ones. No
        TTL of its own: the pipeline's `save_in` gives it."""
        for name, value in fields.items():
            pipe.hsetnx(self.key(pid), name, value)

    def save_in(self, pipe: Any, pid: str, **fields: str) -> None:
        """Queue a `save` on a pipeline another command is using (one round trip for both)."""
        pipe.hset(self.key(pid), mapping=dict[Any, Any](fields))
        pipe.expire(self.key(pid), self.ttl)

    async def refresh(self, sessions: Iterable[tuple[str, dict[str, str]]]) -> None:
        """Keep live sessions alive: (pid, fields) written where missing, with a fresh TTL, so a Redis that
        restarted empty gets them back (and a stale connection never takes a session back from a newer one).
        `sessions` is read one chunk at a time: a lazy iterable leaves out a session dropped meanwhile."""
        for chunk in batched(sessions, UPKEEP_CHUNK):  # the loop serves broadcasts between two chunks
            keys: list[str] = []
            args: list[str | int] = [self.ttl]
            for pid, fields in chunk:
                keys += [self.key(pid), self.ids_key(pid)]
                args.append(len(fields))
                for name, value in fields.items():
                    args += [name, value]
            await self._refresh(keys=keys, args=args)

    async def drop(self, pid: str) -> None:
        await self.client.delete(self.key(pid), self.ids_key(pid))

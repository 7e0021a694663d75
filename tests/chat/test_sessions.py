"""Sessions (chat/sessions.py): `RecentIds`, bounded and empty until the first id, and the periodic refresh."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import pytest
import redis.asyncio as aioredis

from chat import sessions as sessions_module
from chat.sessions import RecentIds, Sessions


def test_recent_ids_keep_the_last_ones_and_allocate_nothing_until_the_first() -> None:
    recent = RecentIds(limit=3)
    assert "a" not in recent
    assert recent._order is None and recent._ids is None  # an idle connection's copy holds no containers
    for message_id in ("a", "b", "a", "c", "d"):
        recent.add(message_id)
    assert "a" not in recent  # the oldest of four distinct ids went
    assert all(message_id in recent for message_id in ("b", "c", "d"))
    assert all(message_id in RecentIds(["x", "y"]) for message_id in ("x", "y"))


@pytest.fixture(params=["real", "fake"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[aioredis.Redis]:
    if request.param == "real":
        redis_client = aioredis.Redis.from_url(request.getfixturevalue("shared_redis_url"))
    else:
        redis_client = fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer())
    yield redis_client
    await redis_client.aclose()


async def test_a_refresh_in_chunks_restores_and_extends_every_session(
    client: aioredis.Redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a Redis that restarted empty gets every live session back, whatever the number of chunks
    monkeypatch.setattr(sessions_module, "UPKEEP_CHUNK", 2)  # 2 sessions per script call
    sessions = Sessions(client, key_prefix, 120)
    await sessions.save("pid3", username="newer")  # what is there already is kept
    await client.rpush(sessions.ids_key("pid4"), "m1")  # its list of ids gets the TTL too
    sizes: list[int] = []
    script = sessions._refresh

    async def counted(*, keys: list[str], args: list[Any]) -> Any:
        sizes.append(len(keys) // 2)
        return await script(keys=keys, args=args)

    sessions._refresh = counted  # type: ignore[assignment]
    live = ((f"pid{n}", {"sid": f"sid{n}", "username": f"user{n}", "last": ""}) for n in range(7))  # lazily
    await sessions.refresh(live)
    assert sizes == [2, 2, 2, 1]
    for n in range(7):
        stored = await sessions.load(f"pid{n}")
        assert stored == {"sid": f"sid{n}", "username": "newer" if n == 3 else f"user{n}", "last": ""}
        assert 0 < await client.ttl(sessions.key(f"pid{n}")) <= 120
    assert 0 < await client.ttl(sessions.ids_key("pid4")) <= 120
    await sessions.refresh([("pid9", {})])  # a session without fields: only the TTLs
    assert await sessions.load("pid9") is None
    await client.delete(*(sessions.key(f"pid{n}") for n in range(7)), sessions.ids_key("pid4"))


async def test_a_message_writes_the_whole_session_with_its_ttl(
    client: aioredis.Redis, key_prefix: str
) -> None:
    # what a new message's pipeline carries (chat.events): the mark saved, the rest restored only where missing,
    # and one TTL for the hash, which `restore_in` leaves to `save_in`
    sessions = Sessions(client, key_prefix, 120)
    await sessions.save("pid", sid="newer-sid")
    async with client.pipeline(transaction=False) as pipe:
        sessions.save_in(pipe, "pid", last="mark")
        sessions.restore_in(pipe, "pid", username="ann", sid="stale-sid")
        sessions.remember_in(pipe, "pid", "m1")
        await pipe.execute()
    assert await sessions.load("pid") == {"sid": "newer-sid", "last": "mark", "username": "ann"}
    assert 0 < await client.ttl(sessions.key("pid")) <= 120
    assert await sessions.recent_ids("pid") == ["m1"] and 0 < await client.ttl(sessions.ids_key("pid")) <= 120
    await sessions.drop("pid")

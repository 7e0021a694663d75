"""Presence against a real Redis server and the embedded fakeredis: same behaviour on both."""

from __future__ import annotations

from collections.abc import AsyncIterator

import fakeredis
import pytest
import redis.asyncio as aioredis

from chat.presence import Presence


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["real", "fake"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[aioredis.Redis]:
    if request.param == "real":
        url = request.getfixturevalue("shared_redis_url")
        redis_client = aioredis.Redis.from_url(url)
    else:
        redis_client = fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer())
    yield redis_client
    await redis_client.aclose()


async def test_counts_join_and_leave_across_workers(client: aioredis.Redis, key_prefix: str) -> None:
    clock = FakeTime()
    worker_a = Presence(client, key_prefix, 8, now=clock)
    worker_b = Presence(client, key_prefix, 8, now=clock)
    assert await worker_a.join("a1") == 1
    assert await worker_b.join("b1") == 2
    assert await worker_a.join("a2") == 3
    assert await worker_b.leave("b1") == 2
    assert await worker_a.count() == 2
    await client.delete(worker_a.key)


async def test_entries_not_refreshed_for_the_ttl_stop_counting_and_are_swept(
    client: aioredis.Redis, key_prefix: str
) -> None:
    clock = FakeTime()
    survivor = Presence(client, key_prefix, 8, now=clock)
    killed = Presence(client, key_prefix, 8, now=clock)
    await survivor.join("alive")
    await killed.join("dead1")
    await killed.join("dead2")
    for _ in range(3):  # 3 heartbeats of 4 s: the survivor refreshes, the killed worker does not
        clock.now += 4
        await survivor.heartbeat(["alive"])
    assert await survivor.count() == 1
    assert await client.zcard(survivor.key) == 1  # swept, not just ignored
    await client.delete(survivor.key)


async def test_heartbeat_keeps_users_counted(client: aioredis.Redis, key_prefix: str) -> None:
    clock = FakeTime()
    presence = Presence(client, key_prefix, 8, now=clock)
    await presence.join("u")
    for _ in range(10):
        clock.now += 4
        await presence.heartbeat(["u"])
    assert await presence.count() == 1
    await presence.forget(["u"])
    assert await presence.count() == 0

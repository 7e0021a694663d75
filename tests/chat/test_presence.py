"""Presence against a real Redis server and the embedded fakeredis: same behaviour on both."""

from __future__ import annotations

from collections.abc import AsyncIterator

import fakeredis
import pytest
import redis.asyncio as aioredis
from conftest import PrivateRedis

from chat import presence as presence_module
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


def count_calls(presence: Presence) -> list[int]:
    """The number of names in each call of the heartbeat's script, as it runs."""
    sizes: list[int] = []
    script = presence._refresh_names

    async def counted(*, keys: list[str], args: list[object]) -> object:
        sizes.append(len(keys))
        return await script(keys=keys, args=args)

    presence._refresh_names = counted  # type: ignore[assignment]
    return sizes


async def test_a_heartbeat_in_chunks_refreshes_every_user_and_name_it_holds(
    client: aioredis.Redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # upkeep goes out in chunks (the event loop serves broadcasts in between), one script call each; none may be
    # left out
    monkeypatch.setattr(presence_module, "UPKEEP_CHUNK", 3)
    clock = FakeTime()
    presence = Presence(client, key_prefix, 8, now=clock)
    users = {f"name{n}": f"sid{n}" for n in range(8)}
    for name, sid in users.items():
        await presence.join(sid)
        assert await presence.claim_name(name, sid)
    await client.set(presence.name_key("name5"), "someone-else")  # taken meanwhile: not overwritten
    await client.delete(presence.name_key("name6"))  # lost (a Redis that restarted empty): taken back
    for name in users:
        await client.persist(presence.name_key(name))  # so that only a refresh can give a name its TTL again
    sizes = count_calls(presence)
    for _ in range(3):  # 12 s: past the 8 s TTL, so only what the heartbeats refreshed is left
        clock.now += 4
        await presence.heartbeat(list(users.values()), users.items())
    assert sizes == [3, 3, 2] * 3
    assert await presence.count() == 8
    for name, sid in users.items():
        owner = await client.get(presence.name_key(name))
        if name == "name5":
            assert owner == b"someone-else" and await client.pttl(presence.name_key(name)) == -1
        else:
            assert owner == sid.encode() and 0 < await client.pttl(presence.name_key(name)) <= 8000
    await presence.forget(users.values())
    await client.delete(*(presence.name_key(name) for name in users))


async def test_a_name_released_or_claimed_while_a_heartbeat_runs_is_left_as_it_is(
    client: aioredis.Redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # between two chunks of the heartbeat, one user logs out (its name is released) and another worker's user
    # claims a name that had expired: the refresh must not undo either
    monkeypatch.setattr(presence_module, "UPKEEP_CHUNK", 1)
    clock = FakeTime()
    presence = Presence(client, key_prefix, 8, now=clock)
    other = Presence(client, key_prefix, 8, now=clock)
    for name in ("first", "leaving"):
        assert await presence.claim_name(name, f"sid-{name}")
    logged_out: set[str] = set()
    script = presence._refresh_names

    async def then_others_act(*, keys: list[str], args: list[object]) -> object:
        done = await script(keys=keys, args=args)
        if not logged_out:
            logged_out.add("leaving")
            await presence.release_name("leaving", "sid-leaving")
            assert await other.claim_name("lapsed", "sid-of-another-worker")
        return done

    presence._refresh_names = then_others_act  # type: ignore[assignment]
    held = {"first": "sid-first", "leaving": "sid-leaving", "lapsed": "sid-lapsed"}
    await presence.heartbeat(held.values(), ((n, sid) for n, sid in held.items() if n not in logged_out))
    assert await client.get(presence.name_key("first")) == b"sid-first"
    assert await client.get(presence.name_key("leaving")) is None
    assert await client.get(presence.name_key("lapsed")) == b"sid-of-another-worker"
    await client.delete(presence.key, *(presence.name_key(name) for name in held))


async def test_the_heartbeat_survives_a_redis_restart_that_forgot_its_script(
    private_redis: PrivateRedis, key_prefix: str
) -> None:
    # a Redis that restarted (or failed over) knows no scripts, nor the names: the next heartbeat loads the script
    # again and takes the name back (a private server: restarting the shared one would disturb other tests)
    client = aioredis.Redis.from_url(private_redis.url)
    presence = Presence(client, key_prefix, 8, now=FakeTime())
    assert await presence.claim_name("kept", "sid-kept")
    await presence.heartbeat(["sid-kept"], [("kept", "sid-kept")])
    private_redis.stop()
    private_redis.start()
    await client.connection_pool.disconnect()
    assert await client.script_exists(presence._refresh_names.sha) == [False]
    await presence.heartbeat(["sid-kept"], [("kept", "sid-kept")])
    assert await client.get(presence.name_key("kept")) == b"sid-kept"
    assert await presence.count() == 1
    await client.aclose()

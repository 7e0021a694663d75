"""Redis clients wait for a free pooled connection instead of failing a burst (e.g. hundreds of logins)."""

from __future__ import annotations

import asyncio

import pytest

from chat.redis_backend import MAX_CONNECTIONS, RedisFactory, batched


@pytest.mark.parametrize("kind", ["embedded", "real"])
async def test_a_burst_larger_than_the_pool_waits_instead_of_failing(
    kind: str, request: pytest.FixtureRequest, key_prefix: str
) -> None:
    url = None if kind == "embedded" else request.getfixturevalue("shared_redis_url")
    client = RedisFactory(url).client()

    async def login_like(i: int) -> None:  # a pipelined round trip, as presence and sessions do
        async with client.pipeline(transaction=False) as pipe:
            pipe.hset(f"{key_prefix}:s:{i}", mapping={"sid": str(i)})
            pipe.expire(f"{key_prefix}:s:{i}", 10)
            await pipe.execute()

    try:
        await asyncio.gather(*(login_like(i) for i in range(MAX_CONNECTIONS * 3)))
        assert await client.exists(f"{key_prefix}:s:0", f"{key_prefix}:s:{MAX_CONNECTIONS * 3 - 1}") == 2
    finally:
        await client.aclose()


def test_batched_keeps_every_item_in_order() -> None:
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []
    assert list(batched(range(6), 3)) == [[0, 1, 2], [3, 4, 5]]  # no empty chunk at the end
    with pytest.raises(ValueError):
        list(batched(range(3), 0))

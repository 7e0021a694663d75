"""Redis clients wait for a free pooled connection instead of failing a burst (e.g. hundreds of logins); a worker on
a real Redis does not load the embedded one."""

from __future__ import annotations

import asyncio
import subprocess
import sys

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


def test_a_worker_on_a_real_redis_does_not_import_fakeredis() -> None:
    # importing fakeredis costs a worker about 20 MB of memory: only the embedded default needs it
    loaded = "import sys, chat.__main__, chat.server; print('fakeredis' in sys.modules)"
    assert subprocess.check_output([sys.executable, "-c", loaded], text=True).strip() == "False"
    embedded = (
        "import sys; from chat.redis_backend import RedisFactory; RedisFactory(None).client(); print('ok')"
    )
    assert subprocess.check_output([sys.executable, "-c", embedded], text=True).strip() == "ok"


def test_the_embedded_redis_says_what_to_install_without_lupa(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lupa", None)  # an environment from before the upkeep scripts
    with pytest.raises(RuntimeError, match=r"pip install 'fakeredis\[lua\]'"):
        RedisFactory(None)

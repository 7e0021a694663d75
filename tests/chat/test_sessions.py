"""Sessions (chat/sessions.py): `RecentIds`, bounded and empty until the first id, and the periodic refresh."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest

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


async def test_a_refresh_in_chunks_restores_and_extends_every_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a Redis that restarted empty gets every live session back, whatever the number of chunks
    monkeypatch.setattr(sessions_module, "UPKEEP_CHUNK", 2)  # 2 sessions per script call
    client = fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer())
    sessions = Sessions(client, "t", 120)
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
    await client.aclose()

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
    monkeypatch.setattr(sessions_module, "UPKEEP_CHUNK", 10)  # 2 sessions per pipeline
    client = fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer())
    sessions = Sessions(client, "t", 120)
    await sessions.save("pid3", username="newer")  # what is there already is kept
    sizes: list[int] = []
    pipeline = client.pipeline

    def counted(*args: Any, **kwargs: Any) -> Any:
        pipe = pipeline(*args, **kwargs)
        execute = pipe.execute

        async def execute_counted(*a: Any, **k: Any) -> Any:
            sizes.append(len(pipe))
            return await execute(*a, **k)

        pipe.execute = execute_counted
        return pipe

    monkeypatch.setattr(client, "pipeline", counted)
    live = ((f"pid{n}", {"sid": f"sid{n}", "username": f"user{n}", "last": ""}) for n in range(7))  # lazily
    await sessions.refresh(live)
    assert sizes == [10, 10, 10, 5]  # 5 commands a session, at most UPKEEP_CHUNK a pipeline
    for n in range(7):
        stored = await sessions.load(f"pid{n}")
        assert stored is not None and stored["sid"] == f"sid{n}"
        assert stored["username"] == ("newer" if n == 3 else f"user{n}")
        assert 0 < await client.ttl(sessions.key(f"pid{n}")) <= 120
    await client.aclose()

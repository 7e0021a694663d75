"""`RecentIds` (chat/sessions.py): the last ids a session accepted, bounded, and nothing held before the first."""

from __future__ import annotations

from chat.sessions import RecentIds


def test_recent_ids_keep_the_last_ones_and_allocate_nothing_until_the_first() -> None:
    recent = RecentIds(limit=3)
    assert "a" not in recent
    assert recent._order is None and recent._ids is None  # an idle connection's copy holds no containers
    for message_id in ("a", "b", "a", "c", "d"):
        recent.add(message_id)
    assert "a" not in recent  # the oldest of four distinct ids went
    assert all(message_id in recent for message_id in ("b", "c", "d"))
    assert all(message_id in RecentIds(["x", "y"]) for message_id in ("x", "y"))

"""The worker (chat/app.py): `/metrics` counts the garbage collector's full collections, which stop the event loop;
the heartbeat reads the names it refreshes as it goes."""

from __future__ import annotations

import gc

import fakeredis

from chat.app import ChatApp, held_names
from chat.config import Settings
from chat.events import Connection
from chat.limits import TokenBucket
from chat.redis_backend import RedisFactory
from support.workers import metric


def test_metrics_count_the_full_garbage_collections() -> None:
    app = ChatApp(Settings(), RedisFactory(None, fakeredis.FakeServer()))
    before = metric(app.metrics(), "chat_gc_full_collections_total")
    gc.collect()
    gc.collect()
    assert metric(app.metrics(), "chat_gc_full_collections_total") == before + 2


def test_the_heartbeat_reads_each_name_as_it_refreshes_it() -> None:
    # presence refreshes names one chunk at a time: a user who left after the first chunk went out is left out
    users = [Connection(f"sid{n}", f"pid{n}", TokenBucket(1, 1), TokenBucket(1, 1)) for n in range(3)]
    for n, user in enumerate(users):
        user.username = f"name{n}"
    users[2].username = None  # connected, not logged in
    names = held_names(users)
    assert next(names) == ("name0", "pid0")
    users[1].closed = True
    assert list(names) == []

"""The worker's `/metrics` text (chat/app.py): the garbage collector's full collections, which stop the event loop."""

from __future__ import annotations

import gc

import fakeredis

from chat.app import ChatApp
from chat.config import Settings
from chat.redis_backend import RedisFactory
from support.workers import metric


def test_metrics_count_the_full_garbage_collections() -> None:
    app = ChatApp(Settings(), RedisFactory(None, fakeredis.FakeServer()))
    before = metric(app.metrics(), "chat_gc_full_collections_total")
    gc.collect()
    gc.collect()
    assert metric(app.metrics(), "chat_gc_full_collections_total") == before + 2

"""Redis for the chat: one client factory (real server or embedded fakeredis) and the pub/sub manager.

`ChatRedisManager` is python-socketio's `AsyncRedisManager` with three changes we need and the library
does not give:
- it connects through our factory, so in-process workers can share one embedded `fakeredis.FakeServer`;
- it knows whether its listener is subscribed right now (`listener_ready`), which `/healthz` reports;
- it closes the previous client on reconnect and retries the subscription every second (the library backs off
  to 60 s, which keeps a worker deaf for a minute after a short Redis restart).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import redis.asyncio as aioredis
import socketio

log = logging.getLogger("chat.redis")

SUBSCRIBE_RETRY_SECONDS = 1.0


class RedisFactory:
    """Makes Redis clients for one URL, or for an embedded fakeredis server when the URL is None."""

    def __init__(self, url: str | None, fake_server: fakeredis.FakeServer | None = None) -> None:
        self.url = url
        self.fake_server = fake_server if url is None and fake_server is not None else None
        if url is None and self.fake_server is None:
            self.fake_server = fakeredis.FakeServer()

    def client(self) -> aioredis.Redis:
        if self.fake_server is not None:
            return fakeredis.aioredis.FakeRedis(server=self.fake_server)
        assert self.url is not None
        return aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=2,
            health_check_interval=10,
            socket_keepalive=True,
        )


class ChatRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager, connected through `RedisFactory`, with an observable listener."""

    def __init__(self, factory: RedisFactory, channel: str) -> None:
        super().__init__(url=factory.url or "redis://embedded", channel=channel)
        self.factory = factory
        self.listener_ready = False
        self.redis: aioredis.Redis | None = None
        self.pubsub: Any = None

    def _redis_connect(self) -> None:
        """The publishing client (the listener keeps its own, see below)."""
        old = self.redis
        self.redis = self.factory.client()
        self.connected = True
        if old is not None:
            task = asyncio.get_running_loop().create_task(old.aclose(), name="chat.redis.close-old-client")
            task.add_done_callback(_log_failure)

    async def _redis_listen_with_retries(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            client = self.factory.client()
            self.pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await self.pubsub.subscribe(self.channel)
                self.listener_ready = True
                log.info("pub/sub listener subscribed to %s", self.channel)
                async for message in self.pubsub.listen():
                    yield message
                raise ConnectionError("pub/sub stream ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "pub/sub listener lost Redis (%s); resubscribing in %.0f s", exc, SUBSCRIBE_RETRY_SECONDS
                )
            finally:
                self.listener_ready = False
                await _close_quietly(self.pubsub, client)
            await asyncio.sleep(SUBSCRIBE_RETRY_SECONDS)

    async def close(self) -> None:
        """Stop listening and close the clients (graceful stop)."""
        thread = getattr(self, "thread", None)
        if thread is not None:
            thread.cancel()
            await asyncio.gather(thread, return_exceptions=True)
        self.listener_ready = False
        if self.redis is not None:
            await _close_quietly(self.redis)

    def abandon(self) -> None:
        """Stop listening at once, without telling Redis anything (an abrupt kill)."""
        thread = getattr(self, "thread", None)
        if thread is not None:
            thread.cancel()
        self.listener_ready = False


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("closing an old Redis client failed: %s", task.exception())


async def _close_quietly(*closables: Any) -> None:
    for closable in closables:
        try:
            await closable.aclose()
        except Exception as exc:  # the connection is already gone; nothing to report
            log.debug("close failed: %s", exc)

"""Builds one worker's ASGI application: Socket.IO + the chat protocol + presence + the HTTP routes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio

from chat.config import Settings
from chat.events import ChatEvents
from chat.http import HttpRoutes
from chat.presence import Presence
from chat.redis_backend import ChatRedisManager, RedisFactory

log = logging.getLogger("chat.app")

HEALTH_PING_TIMEOUT = 2.0


class ChatApp:
    """One worker's application objects. `asgi` is what uvicorn serves."""

    def __init__(self, settings: Settings, factory: RedisFactory) -> None:
        self.settings = settings
        self.factory = factory
        self.redis = factory.client()
        self.manager = ChatRedisManager(factory, channel=f"{settings.key_prefix}:socketio")
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=self.manager,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            cors_allowed_origins=[],  # same-origin only: the page is served by the worker itself
            max_http_buffer_size=64 * 1024,
        )
        self.presence = Presence(self.redis, settings.key_prefix, settings.presence_ttl)
        self.events = ChatEvents(self.sio, self.presence, settings)
        self.routes = HttpRoutes(self.health)
        self.asgi: Any = socketio.ASGIApp(self.sio, other_asgi_app=self.routes, socketio_path="socket.io")

    async def health(self) -> str | None:
        """None when this worker can serve: Redis answers and the pub/sub listener is subscribed."""
        try:
            await asyncio.wait_for(self.redis.ping(), HEALTH_PING_TIMEOUT)
        except Exception as exc:
            return f"redis unreachable ({type(exc).__name__}: {exc})"
        if not self.manager.listener_ready:
            return "pub/sub listener not subscribed"
        return None

    async def heartbeat_presence(self) -> None:
        """Refresh this worker's users in the presence set, every heartbeat interval, until cancelled."""
        while True:
            await asyncio.sleep(self.settings.ping_interval)
            try:
                swept = await self.presence.heartbeat(list(self.events.usernames))
                if swept:
                    log.info("presence: swept %d stale users", swept)
            except Exception as exc:
                log.warning("presence heartbeat failed: %s", exc)

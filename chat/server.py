"""`ChatWorker`: one chat worker's lifecycle, start -> serve -> stop (graceful) or kill (abrupt).

Used by `python -m chat` (one worker per process, as on Fargate) and by the emulator's in-process cluster
(several workers in one process, sharing one embedded fakeredis server).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import fakeredis
import uvicorn

from chat.app import ChatApp
from chat.config import Settings
from chat.redis_backend import RedisFactory

log = logging.getLogger("chat.server")


class _EmbeddableServer(uvicorn.Server):
    """uvicorn's server without its own signal handlers: whoever embeds the worker owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ChatWorker:
    def __init__(self, settings: Settings, fake_redis_server: fakeredis.FakeServer | None = None) -> None:
        self.settings = settings
        self.factory = RedisFactory(settings.redis_url, fake_redis_server)
        self.app: ChatApp | None = None
        self._server: _EmbeddableServer | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.port: int = settings.port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "") else self.settings.host
        return f"http://{host}:{self.port}"

    @property
    def connection_count(self) -> int:
        if self.app is None:
            return 0
        return len(self.app.sio.eio.sockets)

    async def start(self) -> None:
        """Connect to Redis, subscribe, and listen; returns once the worker accepts connections."""
        self.app = app = ChatApp(self.settings, self.factory)
        config = uvicorn.Config(
            app.asgi,
            host=self.settings.host,
            port=self.settings.port,
            lifespan="off",
            log_level=self.settings.log_level.lower(),
            access_log=False,
            ws_ping_interval=None,  # Engine.IO has its own heartbeat; no second one
            ws_per_message_deflate=False,  # compressing every small frame costs more CPU than it saves
            timeout_graceful_shutdown=5,
        )
        self._server = server = _EmbeddableServer(config)
        app.sio.manager_initialized = True
        app.manager.initialize()  # start the pub/sub listener now, not on the first client
        serve = self._spawn(server.serve(), "serve")
        self._spawn(app.heartbeat_presence(), "presence-heartbeat")
        while not server.started:
            if serve.done():
                await serve  # re-raise why it could not start (e.g. port in use)
                raise RuntimeError("chat worker exited during start-up")
            await asyncio.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        log.info("chat worker listening on %s (redis: %s)", self.url, self.settings.redacted_redis_url)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"chat-worker:{self.settings.port}:{name}")
        task.add_done_callback(_log_death)
        self._tasks.append(task)
        return task

    async def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM): stop accepting, log every user out, close connections, then Redis."""
        app, server = self.app, self._server
        if app is None or server is None:
            return
        for listener in server.servers:
            listener.close()
        sids = list(app.events.usernames)
        for sid in list(app.sio.manager.get_participants("/", None)):
            with contextlib.suppress(Exception):
                await app.sio.disconnect(sid[0] if isinstance(sid, tuple) else sid)
        with contextlib.suppress(Exception):
            await app.presence.forget(sids)
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._tasks[0]), timeout)
        except (TimeoutError, asyncio.CancelledError):
            server.force_exit = True
        await self._cancel_tasks()
        await app.manager.close()
        with contextlib.suppress(Exception):
            await app.redis.aclose()
        self.app = None
        log.info("chat worker on port %d stopped", self.port)

    async def kill(self) -> None:
        """Abrupt stop (SIGKILL): drop every socket and stop listening, telling nobody."""
        app, server = self.app, self._server
        if app is None or server is None:
            return
        for listener in server.servers:
            listener.close()
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        app.manager.abandon()
        server.force_exit = True
        server.should_exit = True
        await self._cancel_tasks()
        self.app = None

    async def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


def _log_death(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("background task %s died: %r", task.get_name(), exc)

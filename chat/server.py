"""`ChatWorker`: one chat worker's lifecycle, start -> serve -> stop (graceful) or kill (abrupt).

Used by `python -m chat` (one worker per process, as on Fargate) and by the emulator's in-process cluster
(several workers in one process, sharing one embedded fakeredis server).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import uvicorn

from chat import _compat, emf
from chat.app import ChatApp
from chat.config import Settings
from chat.redis_backend import RedisFactory

if TYPE_CHECKING:
    import fakeredis

log = logging.getLogger("chat.server")


class ChatWorker:
    # seconds between two ActiveConnections lines (METRICS_NAMESPACE, chat.emf); a test sets less
    metric_period: float = emf.PERIOD_SECONDS

    def __init__(self, settings: Settings, fake_redis_server: fakeredis.FakeServer | None = None) -> None:
        self.settings = settings
        self.factory = RedisFactory(settings.redis_url, fake_redis_server)
        self.app: ChatApp | None = None
        self._server: _compat.EmbeddableServer | None = None
        self._metrics_server: _compat.EmbeddableServer | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.port: int = settings.port
        self.metrics_port: int | None = None  # METRICS_PORT's own listener, once started

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "") else self.settings.host
        return f"http://{host}:{self.port}"

    @property
    def connection_count(self) -> int:
        if self.app is None:
            return 0
        return self.app.sio.eio.session_count()

    async def start(self) -> None:
        """Connect to Redis and listen; returns once the worker accepts connections."""
        self.app = app = ChatApp(self.settings, self.factory)
        config = uvicorn.Config(
            app.asgi,
            host=self.settings.host,
            port=self.settings.port,
            lifespan="off",
            log_level=self.settings.log_level.lower(),
            log_config=None,  # uvicorn's records go through the process's own logging (not straight to stderr)
            access_log=False,
            ws=_compat.websocket_protocol(),  # websockets-sansio: chat.wire writes frames to its transport
            ws_ping_interval=None,  # Engine.IO has its own heartbeat; no second one
            ws_per_message_deflate=self.settings.ws_compression,
            # a bigger WebSocket message is refused by the protocol as its header arrives, before its payload
            # is buffered: close 1009 "message too big" (the polling POST's limit is the same, chat.engine)
            ws_max_size=self.settings.max_packet_bytes,
            timeout_graceful_shutdown=5,
        )
        self._server = server = _compat.EmbeddableServer(config)
        try:
            app.fanout.last_id = await app.fanout.start_position()
        except Exception as exc:  # Redis down at start: the reader starts from the stream's head when it can
            log.warning("redis unreachable at start-up (%s); /healthz reports it until it answers", exc)
        serve = self._spawn(server.serve(), "serve")
        self._spawn(app.fanout.run_reader(), "fanout-reader")
        self._spawn(app.fanout.run_republisher(), "fanout-republisher")
        self._spawn(app.heartbeat(), "heartbeat")
        if self.settings.metrics_namespace is not None:
            metric = emf.publish(
                self.settings.metrics_namespace,
                self.settings.metric_dimensions,
                lambda: app.connection_count,
                self.metric_period,
            )
            self._spawn(metric, "active-connections")
        while not server.started:
            if serve.done():
                await serve  # re-raise why it could not start (e.g. port in use)
                raise RuntimeError("chat worker exited during start-up")
            await asyncio.sleep(0.01)
        self.port = _compat.listening_port(server)
        if isinstance(self.settings.metrics_port, int):
            await self._start_metrics_listener(app, self.settings.metrics_port)
        log.info("chat worker listening on %s (redis: %s)", self.url, self.settings.redacted_redis_url)

    async def _start_metrics_listener(self, app: ChatApp, port: int) -> None:
        """METRICS_PORT=<port>: `/metrics` on a listener of its own (and not on PORT)."""
        config = uvicorn.Config(
            app.metrics_asgi,
            host=self.settings.host,
            port=port,
            lifespan="off",
            log_level=self.settings.log_level.lower(),
            log_config=None,
            access_log=False,
        )
        self._metrics_server = server = _compat.EmbeddableServer(config)
        serve = self._spawn(server.serve(), "metrics")
        while not server.started:
            if serve.done():
                await serve
                raise RuntimeError(f"the metrics listener (METRICS_PORT={port}) exited during start-up")
            await asyncio.sleep(0.01)
        self.metrics_port = _compat.listening_port(server)
        log.info("metrics on http://%s:%d/metrics", self.settings.host, self.metrics_port)

    def _stop_metrics_listener(self) -> None:
        server, self._metrics_server = self._metrics_server, None
        if server is not None:
            _compat.stop_listening(server)
            server.should_exit = True

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"chat-worker:{self.settings.port}:{name}")
        task.add_done_callback(_log_death)
        self._tasks.append(task)
        return task

    async def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM, ECS scale-in): stop taking connections, send every client to reconnect
        elsewhere (they recover there, nothing lost, nobody "left"), publish what is still buffered, exit."""
        app, server = self.app, self._server
        if app is None or server is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        app.events.draining = True
        _compat.stop_listening(server)
        self._stop_metrics_listener()
        await app.sio.send_everyone_elsewhere()
        if not await app.fanout.drain(deadline - loop.time() - 1):  # what Redis lost is published again first
            log.error("stopping with broadcasts lost by Redis not yet published again")
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._tasks[0]), max(0.1, deadline - loop.time()))
        except (TimeoutError, asyncio.CancelledError):
            server.force_exit = True
        await self._cancel_tasks()
        await app.sio.eio.stop_service()
        for client in (app.redis, app.reader_redis):
            with contextlib.suppress(Exception):
                await client.aclose()
        self.app = None
        log.info("chat worker on port %d stopped", self.port)

    async def kill(self) -> None:
        """Abrupt stop (SIGKILL): drop every socket and stop listening, telling nobody."""
        app, server = self.app, self._server
        if app is None or server is None:
            return
        _compat.stop_listening(server)
        self._stop_metrics_listener()
        _compat.abort_connections(server)
        server.force_exit = True
        server.should_exit = True
        await self._cancel_tasks()
        await app.sio.eio.stop_service()
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

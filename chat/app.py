"""Builds one worker's ASGI application: Socket.IO, the chat protocol, fan-out, presence, sessions, HTTP."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from typing import Any

import socketio

from chat.config import Settings
from chat.delivery import Delivery
from chat.engine import ChatServer, OriginCheck
from chat.events import ChatEvents, Connection
from chat.fanout import READ_BLOCK_MS, Fanout
from chat.http import HealthReport, HttpRoutes, MetricsRoute, SecurityHeaders
from chat.presence import Presence
from chat.redis_backend import RedisFactory, stop_if_cancelled
from chat.sessions import Sessions

log = logging.getLogger("chat.app")

HEALTH_PING_TIMEOUT = 2.0
SESSION_REFRESH_EVERY = 5  # heartbeats between session TTL refreshes


class ChatApp:
    """One worker's application objects. `asgi` is what uvicorn serves."""

    def __init__(self, settings: Settings, factory: RedisFactory) -> None:
        self.settings = settings
        self.redis = factory.client()
        # XREAD BLOCK holds its connection: the reader gets its own client, with a socket timeout longer than
        # the block (redis-py's default 5 s would cut every idle read short and flap /healthz)
        self.reader_redis = factory.client(socket_timeout=READ_BLOCK_MS / 1000 + 5)
        self.sio = ChatServer(
            max_unsent_bytes=settings.max_unsent_bytes,
            max_connections=settings.max_connections,
            connect_timeout=settings.connect_timeout,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            # the page's own host, and ALLOWED_ORIGINS; requests without an Origin (non-browser clients) pass
            cors_allowed_origins=OriginCheck(settings.allowed_origins),
            max_http_buffer_size=settings.max_packet_bytes,  # uvicorn's ws_max_size is the same (chat.server)
            # each event runs in its own task, so a connection keeps reading (and answering heartbeats) while one
            # of its events waits for Redis or for the rate limit; chat.events runs one client's events in order
            async_handlers=True,
        )
        self.delivery = Delivery(self.sio)
        self.fanout = Fanout(
            self.delivery,
            self.redis,
            settings.key_prefix,
            window_seconds=settings.recovery_window,
            publish_timeout=settings.publish_timeout,
            delivery_window=settings.delivery_window,
        )
        self.fanout.reader_client = self.reader_redis
        self.presence = Presence(self.redis, settings.key_prefix, settings.presence_ttl)
        self.sessions = Sessions(self.redis, settings.key_prefix, settings.recovery_window)
        self.events = ChatEvents(self.sio, self.fanout, self.delivery, self.presence, self.sessions, settings)
        self.health_report = HealthReport(self.health)
        self.routes = HttpRoutes(
            self.health_report, self.metrics, serve_metrics=settings.metrics_port is None
        )
        self.asgi: Any = SecurityHeaders(
            socketio.ASGIApp(self.sio, other_asgi_app=self.routes, socketio_path="socket.io")
        )
        # what METRICS_PORT's own listener serves (chat.server starts it when METRICS_PORT is a number)
        self.metrics_asgi: Any = SecurityHeaders(MetricsRoute(self.health_report, self.metrics))

    async def health(self) -> str | None:
        """None when this worker can serve: Redis answers and the broadcast reader is following the stream."""
        try:
            await asyncio.wait_for(self.redis.ping(), HEALTH_PING_TIMEOUT)
        except Exception as exc:
            return f"redis unreachable ({type(exc).__name__}: {exc})"
        if not self.fanout.reader_ok:
            return f"broadcast reader not following the stream ({self.fanout.stats.last_error or 'starting'})"
        if self.events.draining:
            return "draining"
        return None

    @property
    def connection_count(self) -> int:
        """Open Socket.IO connections: `/metrics`'s chat_connections and the ActiveConnections metric (chat.emf)."""
        return len(self.events.connections)

    def metrics(self) -> str:
        """This worker's counters, in Prometheus text format (`GET /metrics`)."""
        stats, events = self.fanout.stats, self.events
        rows = [
            ("chat_connections", "gauge", "open Socket.IO connections", self.connection_count),
            (
                "chat_users",
                "gauge",
                "logged-in users on this worker",
                sum(1 for c in events.connections.values() if c.username),
            ),
            (
                "chat_messages_accepted_total",
                "counter",
                "new messages accepted from this worker's clients",
                events.messages_accepted,
            ),
            (
                "chat_broadcasts_published_total",
                "counter",
                "entries this worker added to the stream",
                stats.published,
            ),
            (
                "chat_stream_entries_read_total",
                "counter",
                "stream entries this worker read",
                stats.entries_read,
            ),
            (
                "chat_stream_batches_total",
                "counter",
                "XREADs that returned entries (entries read / batches: the batch size)",
                stats.batches,
            ),
            (
                "chat_deliveries_total",
                "counter",
                "messages written to this worker's clients",
                self.delivery.delivered,
            ),
            (
                "chat_deliveries_raw_total",
                "counter",
                "of those, written straight to a WebSocket connection (the rest queued through python-engineio)",
                self.delivery.delivered_raw,
            ),
            (
                "chat_publish_waiting",
                "gauge",
                "publishes retrying while Redis is unreachable",
                stats.waiting_now,
            ),
            (
                "chat_publish_refused_total",
                "counter",
                "sends refused as retryable: Redis unreachable for PUBLISH_TIMEOUT",
                stats.unavailable_refusals,
            ),
            (
                "chat_publish_rejected_total",
                "counter",
                "broadcasts Redis could never take, refused at once",
                stats.rejected,
            ),
            (
                "chat_republished_total",
                "counter",
                "entries published again after Redis lost them",
                stats.republished,
            ),
            (
                "chat_stream_gaps_total",
                "counter",
                "times the stream was trimmed or reset past this worker",
                stats.gaps,
            ),
            (
                "chat_duplicates_dropped_total",
                "counter",
                "entries or resends dropped as duplicates",
                stats.duplicates_dropped + events.duplicates_dropped,
            ),
            (
                "chat_sessions_recovered_total",
                "counter",
                "reconnections that recovered their session",
                events.sessions_recovered,
            ),
            (
                "chat_rate_limited_total",
                "counter",
                "messages delayed, or typing notices refused, by a rate limit",
                events.rate_limited,
            ),
            (
                "chat_queue_refusals_total",
                "counter",
                "events refused (retryable) because MESSAGE_QUEUE events already waited on their connection",
                events.queue_refusals,
            ),
            (
                "chat_handler_errors_total",
                "counter",
                "events whose handler failed unexpectedly (answered with an error)",
                events.handler_errors,
            ),
            (
                "chat_connections_refused_total",
                "counter",
                "connections refused because the worker was full (MAX_CONNECTIONS)",
                events.refused_full + self.sio.eio.refused_full,
            ),
            (
                "chat_slow_consumers_cut_total",
                "counter",
                "clients cut off for not reading",
                self.sio.slow_consumers_cut,
            ),
            (
                "chat_broadcast_reader_up",
                "gauge",
                "1 while the broadcast reader follows the stream",
                int(self.fanout.reader_ok),
            ),
            ("chat_engineio_sessions", "gauge", "open Engine.IO sessions", self.sio.eio.session_count()),
            (
                "chat_raw_write_path",
                "gauge",
                "1 while packets to WebSocket clients are written straight to their connection (chat._compat)",
                int(self.sio.raw_path.active),
            ),
            (
                "chat_heartbeat_pings_raw_total",
                "counter",
                "Engine.IO PINGs written straight to a WebSocket connection from a timer (no task, no queue)",
                self.sio.eio.heartbeats.pings_raw,
            ),
            (
                "chat_heartbeat_pongs_inline_total",
                "counter",
                "Engine.IO PONGs taken where the connection reads them (no task woken)",
                self.sio.eio.heartbeats.pongs_inline,
            ),
            (
                "chat_gc_full_collections_total",
                "counter",
                "CPython's full (generation 2) collections, which stop the event loop",
                gc.get_stats()[2]["collections"],
            ),
            (
                "chat_connect_timeouts_total",
                "counter",
                "sessions closed for sending no Socket.IO CONNECT within CONNECT_TIMEOUT",
                self.sio.eio.connect_timeouts,
            ),
            (
                "chat_oversized_posts_total",
                "counter",
                "polling POSTs refused (413) for announcing more than MAX_PACKET_BYTES",
                self.sio.eio.oversized_posts,
            ),
        ]
        lines: list[str] = []
        for name, kind, help_text, value in rows:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(lines) + "\n"

    async def heartbeat(self) -> None:
        """Every heartbeat interval: refresh this worker's users in presence; now and then, their sessions."""
        beat = 0
        while True:
            stop_if_cancelled()
            await asyncio.sleep(self.settings.ping_interval)
            beat += 1
            connections = list(self.events.connections.values())
            try:
                users = [c for c in connections if c.username is not None]
                swept = await self.presence.heartbeat([c.pid for c in users], held_names(users))
                if swept:
                    log.info("presence: swept %d stale users", swept)
                if beat % SESSION_REFRESH_EVERY == 0:
                    await self.sessions.refresh(
                        (c.pid, {"sid": c.sid, "username": c.username or "", "last": c.last_fingerprint})
                        for c in connections
                        if not c.closed  # checked as each chunk is made: a session dropped meanwhile stays dropped
                    )
            except Exception as exc:
                log.warning("presence heartbeat failed: %s", exc)


def held_names(users: list[Connection]) -> Iterator[tuple[str, str]]:
    """Each user's (name, private session id), read as presence's heartbeat reaches it: the heartbeat sends names
    one chunk at a time, and a user who left while earlier chunks were on their way must not get its name back."""
    return ((c.username, c.pid) for c in users if c.username and not c.closed)

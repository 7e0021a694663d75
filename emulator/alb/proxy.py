"""The load balancer's listener: accepts client connections and runs a `ClientSession` for each.

When a target starts draining it closes the idle kept-alive connections to it; when the target
becomes `unused` (its deregistration delay ended) it closes every connection still open to it
(WebSockets and requests in flight included). It also closes connections that carried no data for
the idle timeout (the ALB's `idle_timeout.timeout_seconds`, default 60 s), and connections whose
request head is not complete within the header timeout (`header_timeout_seconds`).

Both timeouts are real seconds, whatever the emulated Clock does. They bound what real programs do on
a real socket: a browser's or worker's Engine.IO heartbeat (a ping every 4 real seconds), a client
sending its request head. Under `--time-scale 60` an idle timeout on emulated time would be 1 real
second and would cut every idle WebSocket between two heartbeats. So the listener keeps no emulated
time at all: what scales is the target group's business (health check interval, deregistration
delay), on its own Clock. The timeouts are counted on `connection_clock`, a `WallClock` unless a
test hands in a `VirtualClock` to step through them; `clock` is accepted, and ignored, for callers
written when the timeouts ran on it.

The header timeout is what stops a slowloris (a head sent a byte at a time, or never finished), which
the idle timeout alone does not: each byte resets it. AWS documents no separate setting for it. What
it documents is the idle timeout, default 60 s, and that the ALB answers `408 Request Timeout` when
"the client did not send data before the idle timeout period expired" (Troubleshoot your Application
Load Balancers, HTTP 408); the ALB's other connection timer, `client_keep_alive.seconds` (default
3600 s), bounds a whole kept-alive connection, not a head. So the default is the idle timeout's 60 s,
counted once per head, from the connection's accept for its first request and from the head's first
byte for the next ones; bytes trickling in do not extend it. When it expires, a connection that sent
part of a head gets the ALB's 408 and is closed; one that sent nothing is just closed, as an idle
connection is.

A target that accepts a request and never answers is bounded by the idle timeout too (no byte either
way), as on the ALB; the emulator closes the connection where the ALB would answer 504.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable

from emulator.alb.router import Router
from emulator.alb.session import ClientSession, SessionConfig
from emulator.alb.target_group import TargetGroup, TargetState
from emulator.clock import Clock, WallClock
from emulator.tasks import TaskSet

log = logging.getLogger("emulator.alb")


class LoadBalancer:
    def __init__(
        self,
        target_group: TargetGroup,
        host: str = "127.0.0.1",
        port: int = 0,
        drop_cookies: bool = False,
        clock: Clock | None = None,  # ignored: the listener keeps no emulated time (module docstring)
        *,
        idle_timeout_seconds: float = 60.0,
        header_timeout_seconds: float = 60.0,
        wall_time: Callable[[], float] = time.time,
        connection_clock: Clock | None = None,
    ) -> None:
        """`idle_timeout_seconds` and `header_timeout_seconds` are real seconds, counted on
        `connection_clock` (a `WallClock` unless a test steps a `VirtualClock`), never on the emulated
        `clock`; `wall_time` is the epoch clock the stickiness cookies expire on."""
        settings = target_group.settings
        self.target_group = target_group
        self.host = host
        self.port = port
        self.drop_cookies = drop_cookies
        self.connection_clock: Clock = connection_clock if connection_clock is not None else WallClock()
        self.idle_timeout_seconds = idle_timeout_seconds
        self.header_timeout_seconds = header_timeout_seconds
        self.wall_time = wall_time
        self.router = Router(
            algorithm=settings.load_balancing_algorithm,
            stickiness_enabled=settings.stickiness_enabled and settings.stickiness_type == "lb_cookie",
            stickiness_duration_seconds=settings.stickiness_duration_seconds,
        )
        self.sessions: set[ClientSession] = set()
        self.connections_accepted = 0  # client connections accepted since start (chaos: the reconnect storm)
        self._server: asyncio.Server | None = None
        self._tasks = TaskSet()
        self._connections = TaskSet()
        self._ids = itertools.count(1)
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._unsubscribe = self.target_group.subscribe(self._on_target_state)
        self._tasks.spawn(self._timeout_watch(), f"alb-timeout-watch-{self.port}")
        log.info("load balancer listening on %s", self.url)

    async def stop(self) -> None:
        """Stop accepting, close every client and target connection, and wait for the handlers."""
        if self._server is None:
            return
        self._server.close()
        if self._unsubscribe is not None:
            self._unsubscribe()
        for session in list(self.sessions):
            session.abort()
        await self._connections.wait(timeout=1.0)  # aborted sessions end by themselves
        await self._connections.cancel_all()
        await self._tasks.cancel_all()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> LoadBalancer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name = f"alb-conn-{next(self._ids)}"
        self.connections_accepted += 1
        task = asyncio.current_task()
        if task is not None:
            task.set_name(name)
            self._connections.adopt(task)
        config = SessionConfig(
            self.target_group,
            self.router,
            self.connection_clock,
            self.wall_time,
            self.port,
            self.drop_cookies,
        )
        session = ClientSession(config, reader, writer, name)
        self.sessions.add(session)
        try:
            await session.serve()
        except asyncio.CancelledError:
            # End quietly: asyncio's stream server (3.11) logs a cancelled handler as an error, and
            # nothing awaits this task but the server.
            session.abort()
        finally:
            self.sessions.discard(session)

    def _on_target_state(self, target_id: str, old: TargetState, new: TargetState) -> None:
        """Draining: idle kept-alive connections go at once (so an idle target drains at once);
        unused: everything still open to the target is closed."""
        if new in (TargetState.DRAINING, TargetState.UNUSED):
            for session in list(self.sessions):
                session.close_target(target_id, in_flight_too=new is TargetState.UNUSED)

    async def _timeout_watch(self) -> None:
        """Every quarter of the shorter timeout (real seconds): close idle connections and those whose
        head is overdue."""
        period = max(min(self.idle_timeout_seconds, self.header_timeout_seconds) / 4, 0.01)
        while True:
            await self.connection_clock.sleep(period)
            now = self.connection_clock.now()
            for session in list(self.sessions):
                if session.last_active < now - self.idle_timeout_seconds:
                    log.debug("%s: idle for %ss, closing", session.name, self.idle_timeout_seconds)
                    session.abort()
                elif (
                    session.head_started is not None
                    and session.head_started < now - self.header_timeout_seconds
                ):
                    log.debug(
                        "%s: no request head in %ss, closing", session.name, self.header_timeout_seconds
                    )
                    session.head_timed_out()

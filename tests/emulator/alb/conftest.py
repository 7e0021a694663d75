"""Fixtures for the load balancer's tests (`alb_settings`, `backends`, `balancer`, `recording_target`), and
the backends.

Small real backends for the load balancer's tests: uvicorn servers on free ports that say who they are.

Routes: `/healthz` (status set by the test), `/whoami` (the backend's name), `/headers` (the request
headers as JSON), `/poll` (a long poll released by `POST /push` on the same backend), `/slow` (answers
after the test sets `release`), and a WebSocket at `/ws` that greets with its name and echoes text and
binary messages.

`RecordingTarget` is a bare asyncio + h11 target that shows what arrived on the wire: each request's raw
headers and body, and the body bytes received so far while a request is still coming in.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import h11
import pytest
import uvicorn

from emulator.alb import LoadBalancer, TargetGroup
from emulator.clock import Clock, WallClock
from emulator.model import HealthCheck, TargetGroupSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Backend:
    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.health_status = 200
        self.requests = 0
        self.pushed = asyncio.Event()
        self.release = asyncio.Event()
        self.slow_started = asyncio.Event()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def target_id(self) -> str:
        return self.name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path != "/healthz":
            self.requests += 1
        status, payload = await self._answer(path, scope, body)
        headers = [
            (b"content-type", b"text/plain"),
            (b"content-length", str(len(payload)).encode()),
            (b"x-backend", self.name.encode()),
        ]
        if path == "/set-cookie":
            headers.append((b"set-cookie", b"app=1; Path=/"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, path: str, scope: Scope, body: bytes) -> tuple[int, bytes]:
        if path == "/healthz":
            return self.health_status, b"health"
        if path == "/headers":
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            return 200, json.dumps(headers).encode()
        if path == "/poll":
            await self.pushed.wait()
            self.pushed.clear()
            return 200, f"{self.name}:polled".encode()
        if path == "/push":
            self.pushed.set()
            return 200, f"{self.name}:pushed:".encode() + body
        if path == "/slow":
            self.slow_started.set()
            await self.release.wait()
            return 200, self.name.encode()
        return 200, self.name.encode()

    async def _websocket(self, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": self.name})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
            else:
                await send({"type": "websocket.send", "text": message["text"]})

    async def start(self) -> None:
        config = uvicorn.Config(
            self,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(), name=f"backend-{self.name}")
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        self._server.force_exit = True
        await self._task
        self._server = None


@dataclass
class Recorded:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    done: bool = False

    def header(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.headers if key == name]


@dataclass
class RecordingTarget:
    """A target that records requests as they arrive and answers `200` with the body's length."""

    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    connections: int = 0
    _progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def received(self) -> int:
        """Body bytes of the latest request received so far."""
        return len(self.requests[-1].body) if self.requests else 0

    async def wait_received(self, count: int) -> None:
        async with self._progress:
            await self._progress.wait_for(lambda: self.received >= count)

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Request):
                    self.requests.append(
                        Recorded(event.method, event.target, list(event.headers.raw_items()))
                    )
                elif isinstance(event, h11.Data):
                    self.requests[-1].body += bytes(event.data)
                    await self._notify()
                elif isinstance(event, h11.EndOfMessage):
                    self.requests[-1].done = True
                    body = str(len(self.requests[-1].body)).encode()
                    headers = [("Content-Length", str(len(body)))]
                    writer.write(conn.send(h11.Response(status_code=200, headers=headers)) or b"")
                    writer.write(conn.send(h11.Data(data=body)) or b"")
                    writer.write(conn.send(h11.EndOfMessage()) or b"")
                    await writer.drain()
                    if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                        return
                    conn.start_next_cycle()
                else:
                    return
        except (ConnectionError, h11.ProtocolError):
            return
        finally:
            writer.close()


@asynccontextmanager
async def recording(target: RecordingTarget | None = None) -> AsyncIterator[RecordingTarget]:
    target = target or RecordingTarget()
    server = await asyncio.start_server(target.handle, "127.0.0.1", 0)
    target.port = int(server.sockets[0].getsockname()[1])
    try:
        yield target
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def running_backends(count: int) -> AsyncIterator[list[Backend]]:
    backends = [Backend(f"b{i}") for i in range(count)]
    try:
        for backend in backends:
            await backend.start()
        yield backends
    finally:
        for backend in backends:
            await backend.stop()


def settings(
    *,
    sticky: bool = False,
    delay: int = 300,
    duration: int = 86400,
    algorithm: str = "round_robin",
    healthy: int = 2,
    unhealthy: int = 2,
) -> TargetGroupSettings:
    return TargetGroupSettings(
        target_group_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/chat/0",
        port=8000,
        health_check=HealthCheck(
            path="/healthz",
            interval_seconds=6,
            timeout_seconds=5,
            healthy_threshold_count=healthy,
            unhealthy_threshold_count=unhealthy,
        ),
        stickiness_enabled=sticky,
        stickiness_duration_seconds=duration,
        deregistration_delay_seconds=delay,
        load_balancing_algorithm=algorithm,  # type: ignore[arg-type]
    )


def make_healthy(tg: TargetGroup, backends: list[Backend]) -> None:
    """Register the backends and mark them healthy, as passing health checks would."""
    from emulator.alb import HealthCheckResult

    for backend in backends:
        tg.register(backend.target_id, "127.0.0.1", backend.port)
        for _ in range(tg.settings.health_check.healthy_threshold_count):
            tg.record_health(backend.target_id, HealthCheckResult(True))


@asynccontextmanager
async def balancer(
    tg_settings: TargetGroupSettings,
    backends: list[Backend],
    *,
    clock: Clock | None = None,
    drop_cookies: bool = False,
    healthy: bool = True,
    wall_time: Callable[[], float] = time.time,
    **lb_options: Any,
) -> AsyncIterator[tuple[TargetGroup, LoadBalancer]]:
    clock = clock or WallClock()
    tg = TargetGroup(tg_settings, clock)
    if healthy:
        make_healthy(tg, backends)
    # the emulated clock goes to both, as the supervisor passes it; the listener's timeouts ignore it
    lb = LoadBalancer(tg, drop_cookies=drop_cookies, clock=clock, wall_time=wall_time, **lb_options)
    await lb.start()
    try:
        yield tg, lb
    finally:
        await lb.stop()
        await tg.close()


@pytest.fixture
def alb_settings() -> Callable[..., TargetGroupSettings]:
    """`alb_settings(sticky=True, delay=1, ...)`: target-group settings with the template's health check."""
    return settings


@pytest.fixture
def backends() -> Callable[[int], Any]:
    """`async with backends(2) as (b0, b1):` real uvicorn backends on free ports."""
    return running_backends


@pytest.fixture
def balancer_for() -> Callable[..., Any]:
    """`async with balancer_for(settings, backends, clock=..., drop_cookies=..., **LoadBalancer options) as
    (tg, lb):`; `clock` is the emulated one, `connection_clock=` steps the listener's real-time timeouts."""
    return balancer


@pytest.fixture
def recording_target() -> Callable[[], Any]:
    """`async with recording_target() as target:` a `RecordingTarget` on a free port."""
    return recording

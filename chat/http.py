"""The worker's plain HTTP routes: the page at `/`, its files at `/static/<name>`, `GET /healthz` and
`GET /metrics` (Prometheus text format; on PORT, on a port of its own, or off: METRICS_PORT).

Everything else under the ASGI app is Socket.IO (`/socket.io/`), handled by python-socketio. `SecurityHeaders`
wraps the whole app, so every HTTP response (the page, its files, health, metrics, 404s, Socket.IO's polling
answers) says it must not be framed, sniffed or leak a referrer. `/healthz` answers only `ok` or `unhealthy`:
why goes to the worker's log (`HealthReport`: a line per change, at most one every LOG_GAP seconds) and to
`/metrics` (`chat_healthy`, `chat_health_info{reason=...}`).
"""

from __future__ import annotations

import logging
import mimetypes
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
HealthProbe = Callable[[], Awaitable[str | None]]  # None when healthy, else the reason
MetricsSource = Callable[[], str]  # Prometheus text exposition

STATIC_PACKAGE = "chat.static"

log = logging.getLogger("chat.http")

# the page's own files only; 'self' in connect-src also covers ws:// and wss:// to the same host (CSP Level 3,
# Chromium, which tests/chat/test_page.py runs the page in), so no scheme-wide `ws: wss:` that would let a script
# reach any host. A browser without that rule would block the page's WebSocket (its only transport).
CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
)
LOG_GAP = (
    10.0  # least seconds between two log lines about the worker's health (changes in between are counted)
)
REMIND_EVERY = 60.0  # seconds between two lines about the same, lasting problem


class SecurityHeaders:
    """ASGI middleware: `SECURITY_HEADERS` on every HTTP response. WebSocket connections pass through untouched:
    `chat.wire` finds the connection's transport through uvicorn's own `send` callable, so it must not be wrapped."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [header for header in SECURITY_HEADERS if header[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HealthReport:
    """Runs the health probe for `/healthz` and `/metrics`; says why in the log, not to whoever asks.

    A change of health is logged at once unless a line was written less than LOG_GAP seconds ago (a flapping
    check then shows up as one line with the number of changes); an unchanged problem is repeated every
    REMIND_EVERY seconds."""

    def __init__(self, probe: HealthProbe, clock: Callable[[], float] = time.monotonic) -> None:
        self.probe = probe
        self.clock = clock
        self.reason: str | None = None  # of the last probe; None: healthy
        self.probed = False
        self._logged: tuple[str | None, float] = (None, -float("inf"))  # the last line's state, and when
        self._changes = 0  # since the last line

    async def check(self) -> str | None:
        reason = await self.probe()
        if self.probed and reason != self.reason:
            self._changes += 1
        self.reason, self.probed = reason, True
        self._log(reason, self.clock())
        return reason

    def _log(self, reason: str | None, now: float) -> None:
        logged, at = self._logged
        changed = reason != logged or self._changes > 0
        if (changed or reason is not None) and now - at >= (LOG_GAP if changed else REMIND_EVERY):
            self._write(reason, now)

    def _write(self, reason: str | None, now: float) -> None:
        flaps = f" ({self._changes} changes since the last report)" if self._changes > 1 else ""
        if reason is None:
            log.info("healthy%s", flaps)
        else:
            log.warning("unhealthy: %s%s", reason, flaps)
        self._logged = (reason, now)
        self._changes = 0

    def metrics(self) -> str:
        healthy = int(self.probed and self.reason is None)
        reason = (self.reason or "").replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
        return (
            "# HELP chat_healthy 1 when /healthz answers ok\n"
            "# TYPE chat_healthy gauge\n"
            f"chat_healthy {healthy}\n"
            "# HELP chat_health_info why /healthz answers unhealthy (empty when healthy)\n"
            "# TYPE chat_health_info gauge\n"
            f'chat_health_info{{reason="{reason}"}} 1\n'
        )


def load_static_files() -> dict[str, tuple[bytes, str]]:
    """Every file of chat/static, read once: name -> (body, content type)."""
    files: dict[str, tuple[bytes, str]] = {}
    root = resources.files(STATIC_PACKAGE)
    for entry in root.iterdir():
        if entry.is_file() and not entry.name.startswith((".", "__")):
            content_type = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
            if content_type.startswith("text/") or content_type.endswith("javascript"):
                content_type += "; charset=utf-8"
            files[entry.name] = (entry.read_bytes(), content_type)
    return files


class MetricsRoute:
    """`GET /metrics`, and nothing else: the app of METRICS_PORT's own listener."""

    def __init__(self, health: HealthReport, metrics: MetricsSource) -> None:
        self.health = health
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/metrics":
            await respond(send, 404, b"not found\n")
        elif scope["method"] not in ("GET", "HEAD"):
            await respond(send, 405, b"method not allowed\n", extra=[(b"allow", b"GET, HEAD")])
        else:
            await self.serve(send)

    async def serve(self, send: Send) -> None:
        await self.health.check()
        body = (self.metrics() + self.health.metrics()).encode()
        await respond(send, 200, body, content_type="text/plain; version=0.0.4; charset=utf-8", cache=False)


class HttpRoutes:
    def __init__(self, health: HealthReport, metrics: MetricsSource, serve_metrics: bool = True) -> None:
        self.health = health
        self.metrics_route = MetricsRoute(health, metrics) if serve_metrics else None
        self.files = load_static_files()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if method not in ("GET", "HEAD"):
            await respond(send, 405, b"method not allowed\n", extra=[(b"allow", b"GET, HEAD")])
        elif path == "/healthz":
            if await self.health.check() is None:
                await respond(send, 200, b"ok\n", cache=False)
            else:
                await respond(send, 503, b"unhealthy\n", cache=False)
        elif path == "/metrics" and self.metrics_route is not None:
            await self.metrics_route.serve(send)
        elif path in ("/", "/index.html"):
            await self.static(send, "index.html")
        elif path.startswith("/static/"):
            await self.static(send, path.removeprefix("/static/"))
        else:
            await respond(send, 404, b"not found\n")

    async def static(self, send: Send, name: str) -> None:
        found = self.files.get(name)
        if found is None:
            await respond(send, 404, b"not found\n")
            return
        body, content_type = found
        await respond(send, 200, body, content_type=content_type)


async def respond(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
    cache: bool = True,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-cache" if cache else b"no-store"),
    ]  # SecurityHeaders adds the rest
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

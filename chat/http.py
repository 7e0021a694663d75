"""The worker's plain HTTP routes: the page at `/`, its files at `/static/<name>`, `GET /healthz` and
`GET /metrics` (Prometheus text format).

Everything else under the ASGI app is Socket.IO (`/socket.io/`), handled by python-socketio.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
HealthProbe = Callable[[], Awaitable[str | None]]  # None when healthy, else the reason
MetricsSource = Callable[[], str]  # Prometheus text exposition

STATIC_PACKAGE = "chat.static"


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


class HttpRoutes:
    def __init__(self, health: HealthProbe, metrics: MetricsSource) -> None:
        self.health = health
        self.metrics = metrics
        self.files = load_static_files()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if method not in ("GET", "HEAD"):
            await respond(send, 405, b"method not allowed\n", extra=[(b"allow", b"GET, HEAD")])
        elif path == "/healthz":
            reason = await self.health()
            if reason is None:
                await respond(send, 200, b"ok\n", cache=False)
            else:
                await respond(send, 503, f"unhealthy: {reason}\n".encode(), cache=False)
        elif path == "/metrics":
            body = self.metrics().encode()
            await respond(
                send, 200, body, content_type="text/plain; version=0.0.4; charset=utf-8", cache=False
            )
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
        (b"x-content-type-options", b"nosniff"),
        (b"cache-control", b"no-cache" if cache else b"no-store"),
    ]
    if content_type.startswith("text/html"):
        headers.append(
            (
                b"content-security-policy",
                b"default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:",
            )
        )
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

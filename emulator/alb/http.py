"""HTTP/1.1 helpers for the proxy: h11 event reading, header rewriting, and the ALB's own error pages.

Parsing and framing are h11's (a well-kept sans-io parser); this module only decides which headers
pass: hop-by-hop headers stop at the proxy (RFC 9110 §7.6.1), except the `Upgrade` pair of a WebSocket
handshake and the framing headers (`Content-Length`, `Transfer-Encoding`), which h11 re-applies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import h11

READ_SIZE = 256 * 1024
Headers = list[tuple[bytes, bytes]]
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade"})


async def next_event(
    conn: h11.Connection, reader: asyncio.StreamReader, on_data: Callable[[], None] | None = None
) -> h11.Event | type[h11.PAUSED]:
    """The next h11 event, reading from the socket as needed (b"" at EOF becomes ConnectionClosed)."""
    while True:
        event = conn.next_event()
        if event is h11.PAUSED or isinstance(event, h11.Event):
            return event
        data = await reader.read(READ_SIZE)
        if on_data is not None:
            on_data()
        conn.receive_data(data)


def send(conn: h11.Connection, writer: asyncio.StreamWriter, *events: h11.Event) -> None:
    """Serialise `events` and hand them to the socket in one write."""
    data = b"".join(conn.send(event) or b"" for event in events)
    if data:
        writer.write(data)


def header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    """All values of header `name` (lower case), joined the way Cookie headers are joined."""
    values = [value.decode("latin-1") for key, value in headers if key == name]
    return "; ".join(values) if values else None


def is_upgrade(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    items = list(headers)
    connection = (header(items, b"connection") or "").lower()
    return header(items, b"upgrade") is not None and "upgrade" in connection.replace(";", ",")


def _listed_in_connection(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    tokens = (header(headers, b"connection") or "").replace(";", ",").split(",")
    return frozenset(token.strip().lower().encode() for token in tokens if token.strip())


def _passing(headers: Headers, drop: frozenset[bytes]) -> Headers:
    stop = HOP_BY_HOP | _listed_in_connection(headers) | drop
    return [(key, value) for key, value in headers if key not in stop]


def request_headers(
    request: h11.Request, client_ip: str, lb_port: int, *, drop_cookies: bool, upgrade: bool
) -> Headers:
    """The headers the target sees: hop-by-hop removed, X-Forwarded-* added, the Upgrade pair kept."""
    original: Headers = list(request.headers)
    drop = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-port"})
    if drop_cookies:
        drop |= {b"cookie"}
    headers = _passing(original, drop)
    earlier = header(original, b"x-forwarded-for")
    forwarded_for = f"{earlier}, {client_ip}" if earlier else client_ip
    headers += [
        (b"x-forwarded-for", forwarded_for.encode()),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-port", str(lb_port).encode()),
    ]
    if upgrade:
        headers += [(b"connection", b"Upgrade"), (b"upgrade", (header(original, b"upgrade") or "").encode())]
    return headers


def response_headers(
    headers: Headers, set_cookies: Iterable[str], *, drop_cookies: bool, upgrade: bool
) -> Headers:
    """The headers the client sees: the target's (minus hop-by-hop) plus the stickiness cookies."""
    drop = frozenset({b"set-cookie"}) if drop_cookies else frozenset()
    passing = _passing(headers, drop)
    if not drop_cookies:
        passing += [(b"set-cookie", cookie.encode()) for cookie in set_cookies]
    if upgrade:
        passing += [(b"connection", b"Upgrade"), (b"upgrade", (header(headers, b"upgrade") or "").encode())]
    return passing


def error_response(status: int) -> tuple[h11.Response, h11.Data]:
    """The load balancer's own small error page (like the ALB's `awselb/2.0` pages)."""
    reason = {400: "Bad Request", 502: "Bad Gateway", 503: "Service Temporarily Unavailable"}.get(
        status, "Error"
    )
    body = f"{status} {reason}\n".encode()
    response = h11.Response(
        status_code=status,
        reason=reason.encode(),
        headers=[
            ("Server", "awselb/2.0"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ],
    )
    return response, h11.Data(data=body)

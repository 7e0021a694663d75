"""HTTP/1.1 helpers for the proxy: h11 event reading, header rewriting, and the ALB's own error pages.

Parsing and framing are h11's (a well-kept sans-io parser); this module decides which requests are
refused and which headers pass. What h11 enforces already: a missing Host on HTTP/1.1, a repeated Host on
any version, conflicting `Content-Length` values, any `Transfer-Encoding` but a lone `chunked`, a head
over `MAX_HEAD_SIZE`; each is a `RemoteProtocolError`, which the session answers with the ALB's 400.
What h11 does not, this module does:

- **A request without a Host on HTTP/1.0** -> 400 (`refusal`), as the ALB answers a missing Host.
- **Both `Content-Length` and `Transfer-Encoding`**: AWS's desync mitigation (the `http_desync_guardian`
  classification) calls such a request *Ambiguous*; in the ALB's default `defensive` mode an ambiguous request
  is routed, and the load balancer then closes the client and the target connections. We do the same,
  forwarding it framed by `Transfer-Encoding` alone (RFC 9112 §6.1: an intermediary removes
  `Content-Length` first), so the target never sees both headers (`ambiguous_framing`,
  `request_headers`).
- **Hop-by-hop headers** stop at the proxy (RFC 9110 §7.6.1): `Connection` and every header it lists,
  `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding` and `Upgrade`. The framing header is
  re-applied to match the body h11 forwards, and the `Upgrade` pair only on a WebSocket handshake (the
  only upgrade the ALB supports; an `h2c` upgrade is a plain request to it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import h11

READ_SIZE = 256 * 1024
# The ALB's limit on a whole request head (64 KB; a request line or a single header may have 16 KB), as AWS
# states for an ALB behind CloudFront ("HTTP 400 status code (Bad Request)"): h11 refuses a larger head.
MAX_HEAD_SIZE = 64 * 1024
Headers = list[tuple[bytes, bytes]]
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade"})
FRAMING = (b"transfer-encoding", b"content-length")  # in this order of precedence (RFC 9112 §6.3)
REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
}


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


def _tokens(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> frozenset[bytes]:
    tokens = (header(headers, name) or "").replace(";", ",").split(",")
    return frozenset(token.strip().lower().encode() for token in tokens if token.strip())


def is_upgrade(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """A WebSocket handshake: `Upgrade: websocket` with `Connection: upgrade`."""
    items = list(headers)
    return b"websocket" in _tokens(items, b"upgrade") and b"upgrade" in _tokens(items, b"connection")


def refusal(request: h11.Request) -> int | None:
    """The status the load balancer answers itself instead of routing `request`, or None to route it."""
    if not any(key == b"host" for key, _ in request.headers):
        return 400  # h11 requires a Host on HTTP/1.1 only (and refuses two on any version)
    return None


def ambiguous_framing(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Both `Content-Length` and `Transfer-Encoding`: routed, then both connections closed (defensive)."""
    names = {key for key, _ in headers}
    return b"content-length" in names and b"transfer-encoding" in names


def _framing(headers: Headers) -> Headers:
    """The one framing header h11 framed the body by: `Transfer-Encoding` wins over `Content-Length`."""
    for name in FRAMING:
        found = [(key, value) for key, value in headers if key == name]
        if found:
            return found[:1]
    return []


def _passing(headers: Headers, drop: frozenset[bytes]) -> Headers:
    stop = HOP_BY_HOP | frozenset(FRAMING) | _tokens(headers, b"connection") | drop
    return [(key, value) for key, value in headers if key not in stop and not key.startswith(b"proxy-")]


def request_headers(
    request: h11.Request, client_ip: str, lb_port: int, *, drop_cookies: bool, upgrade: bool
) -> Headers:
    """The headers the target sees: hop-by-hop removed, one framing header, X-Forwarded-* added, the Upgrade
    pair kept on a WebSocket handshake, and `Connection: close` after an ambiguously framed request."""
    original: Headers = list(request.headers)
    drop = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-port"})
    if drop_cookies:
        drop |= {b"cookie"}
    headers = _passing(original, drop) + _framing(original)
    earlier = header(original, b"x-forwarded-for")
    forwarded_for = f"{earlier}, {client_ip}" if earlier else client_ip
    headers += [
        (b"x-forwarded-for", forwarded_for.encode()),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-port", str(lb_port).encode()),
    ]
    if upgrade:
        headers += [(b"connection", b"Upgrade"), (b"upgrade", (header(original, b"upgrade") or "").encode())]
    elif ambiguous_framing(original):
        headers.append((b"connection", b"close"))
    return headers


def response_headers(
    headers: Headers, set_cookies: Iterable[str], *, drop_cookies: bool, upgrade: bool, close: bool = False
) -> Headers:
    """The headers the client sees: the target's (minus hop-by-hop, one framing header) plus the stickiness
    cookies; `Connection: close` when the load balancer closes the connection after this response."""
    drop = frozenset({b"set-cookie"}) if drop_cookies else frozenset()
    passing = _passing(headers, drop) + _framing(headers)
    if not drop_cookies:
        passing += [(b"set-cookie", cookie.encode()) for cookie in set_cookies]
    if upgrade:
        passing += [(b"connection", b"Upgrade"), (b"upgrade", (header(headers, b"upgrade") or "").encode())]
    elif close:
        passing.append((b"connection", b"close"))
    return passing


def error_response(status: int, *, close: bool = False) -> tuple[h11.Response, h11.Data]:
    """The load balancer's own small error page (like the ALB's `awselb/2.0` pages)."""
    reason = REASONS.get(status, "Error")
    body = f"{status} {reason}\n".encode()
    headers = [
        ("Server", "awselb/2.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]
    if close:
        headers.append(("Connection", "close"))
    response = h11.Response(status_code=status, reason=reason.encode(), headers=headers)
    return response, h11.Data(data=body)


def error_bytes(status: int) -> bytes:
    """The error page as bytes on the wire, with `Connection: close`, for an answer outside any HTTP cycle
    (a request head that never completed, which h11 has no state for)."""
    response, body = error_response(status, close=True)
    lines = [b"HTTP/1.1 %d %s" % (status, response.reason)]
    lines += [name + b": " + value for name, value in response.headers.raw_items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body.data

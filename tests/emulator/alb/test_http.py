"""The proxy's pure HTTP decisions: what it refuses, which headers pass, one framing header, and its own
error pages as bytes on the wire."""

from __future__ import annotations

import h11
import pytest

from emulator.alb import http


def request(*headers: tuple[str, str], version: str = "1.1") -> h11.Request:
    return h11.Request(method="POST", target="/", headers=list(headers), http_version=version)


def names(headers: http.Headers) -> list[bytes]:
    return [key for key, _ in headers]


@pytest.mark.parametrize(
    ("req", "status"),
    [
        (request(version="1.0"), 400),
        (request(("Host", "lb"), version="1.0"), None),
        (request(("Host", "lb")), None),
    ],
)
def test_refusal(req: h11.Request, status: int | None) -> None:
    assert http.refusal(req) == status


@pytest.mark.parametrize(
    ("headers", "framing", "ambiguous"),
    [
        ([("Content-Length", "5")], [(b"content-length", b"5")], False),
        ([("Transfer-Encoding", "chunked")], [(b"transfer-encoding", b"chunked")], False),
        (
            [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
            [(b"transfer-encoding", b"chunked")],
            True,
        ),
        (
            [("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
            [(b"transfer-encoding", b"chunked")],
            True,
        ),
        ([], [], False),
    ],
)
def test_one_framing_header_reaches_the_target(
    headers: list[tuple[str, str]], framing: http.Headers, ambiguous: bool
) -> None:
    req = request(("Host", "lb"), *headers)
    forwarded = http.request_headers(req, "192.0.2.1", 80, drop_cookies=False, upgrade=False)
    assert [(k, v) for k, v in forwarded if k in http.FRAMING] == framing
    assert http.ambiguous_framing(req.headers) is ambiguous
    assert ((b"connection", b"close") in forwarded) is ambiguous  # defensive mode: the target closes too


def test_hop_by_hop_headers_and_those_connection_lists_do_not_pass_either_way() -> None:
    hop = [
        ("Connection", "keep-alive, X-Private"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Authorization", "Basic eA=="),
        ("Proxy-Authenticate", "Basic"),
        ("TE", "trailers"),
        ("Trailer", "X-Sum"),
        ("Upgrade", "websocket"),
        ("X-Private", "1"),
        ("X-App", "kept"),
    ]
    req = request(("Host", "lb"), *hop)
    forwarded = http.request_headers(req, "192.0.2.1", 80, drop_cookies=False, upgrade=False)
    assert names(forwarded) == [
        b"host",
        b"x-app",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-port",
    ]
    response = [(k.lower().encode(), v.encode()) for k, v in hop] + [(b"content-length", b"0")]
    back = http.response_headers(response, [], drop_cookies=False, upgrade=False)
    assert names(back) == [b"x-app", b"content-length"]


@pytest.mark.parametrize(
    ("upgrade", "connection", "is_upgrade"),
    [
        ("websocket", "Upgrade", True),
        ("WebSocket", "keep-alive, upgrade", True),
        ("h2c", "Upgrade, HTTP2-Settings", False),
        ("websocket", "keep-alive", False),
    ],
)
def test_only_a_websocket_handshake_keeps_its_upgrade_headers(
    upgrade: str, connection: str, is_upgrade: bool
) -> None:
    req = request(("Host", "lb"), ("Upgrade", upgrade), ("Connection", connection))
    assert http.is_upgrade(req.headers) is is_upgrade
    forwarded = http.request_headers(req, "192.0.2.1", 80, drop_cookies=False, upgrade=is_upgrade)
    assert (b"upgrade" in names(forwarded)) is is_upgrade


def test_the_408_outside_any_http_cycle_is_a_well_formed_response_that_closes() -> None:
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "lb")]))
    client.send(h11.EndOfMessage())
    client.receive_data(http.error_bytes(408))
    response = client.next_event()
    body = client.next_event()
    assert isinstance(response, h11.Response) and isinstance(body, h11.Data)
    assert (response.status_code, response.reason) == (408, b"Request Timeout")
    assert (b"connection", b"close") in list(response.headers)
    assert (b"server", b"awselb/2.0") in list(response.headers)
    assert bytes(body.data) == b"408 Request Timeout\n"
    assert isinstance(client.next_event(), h11.EndOfMessage)
    assert client.their_state is h11.MUST_CLOSE

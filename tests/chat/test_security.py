"""Secure by default: only the page's own origin (and ALLOWED_ORIGINS) may open a session from a browser; every
HTTP response forbids framing, sniffing and referrers; /healthz tells outsiders nothing; /metrics can move to a
port of its own or be turned off. Clients that send no Origin (python-socketio, Node, the load generator) are not
affected."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from conftest import free_port, wait_for_port

from chat.engine import OriginCheck
from support.alb import deployment
from support.chat_client import ChatClient
from support.workers import WorkerProcess, start_worker

EIO_WS = "/socket.io/?EIO=4&transport=websocket"
EIO_POLLING = "/socket.io/?EIO=4&transport=polling"


@contextlib.asynccontextmanager
async def worker_with(redis_url: str | None, key_prefix: str, **env: str) -> AsyncIterator[WorkerProcess]:
    worker = start_worker(redis_url, key_prefix, **env)
    try:
        yield worker
    finally:
        worker.stop()


async def websocket_opens(url: str, **headers: str) -> bool:
    """True when an Engine.IO WebSocket handshake to `url` (http://...) is accepted with these headers."""
    try:
        async with websockets.connect(
            url.replace("http://", "ws://") + EIO_WS, additional_headers=headers
        ) as ws:
            return str(await ws.recv()).startswith("0{")
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 403
        return False


async def polling_opens(http: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await http.get(EIO_POLLING, headers=headers)


# ---- the Origin check, as a function --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "environ", "allowed"),
    [
        (None, {"HTTP_HOST": "chat.example"}, True),  # no Origin: not a browser page
        ("http://chat.example", {"HTTP_HOST": "chat.example"}, True),
        ("http://127.0.0.1:3000", {"HTTP_HOST": "127.0.0.1:3000"}, True),
        ("http://127.0.0.1:3001", {"HTTP_HOST": "127.0.0.1:3000"}, False),
        ("http://[::1]:3000", {"HTTP_HOST": "[::1]:3000"}, True),
        ("HTTPS://Chat.Example:443", {"HTTP_HOST": "chat.example"}, True),
        # TLS ends at CloudFront, which reaches the ALB over HTTP (cloudformation/cloudfront.yml)
        (
            "https://d1.cloudfront.net",
            {"HTTP_HOST": "d1.cloudfront.net", "HTTP_X_FORWARDED_PROTO": "http"},
            True,
        ),
        (
            "https://chat.example",
            {"HTTP_HOST": "alb-1.elb.amazonaws.com", "HTTP_X_FORWARDED_HOST": "chat.example"},
            True,
        ),
        ("http://evil.example", {"HTTP_HOST": "chat.example"}, False),
        ("http://chat.example.evil.example", {"HTTP_HOST": "chat.example"}, False),
        ("null", {"HTTP_HOST": "chat.example"}, False),
        ("file://", {"HTTP_HOST": "chat.example"}, False),
        ("http://chat.example", {}, False),
    ],
)
def test_origin_check(origin: str | None, environ: dict[str, str], allowed: bool) -> None:
    assert OriginCheck()(origin, environ) is allowed


def test_allowed_origins_are_exact() -> None:
    check = OriginCheck(["https://chat.example"])
    host = {"HTTP_HOST": "alb-1.elb.amazonaws.com"}
    assert check("https://chat.example", host)
    assert check("https://CHAT.example:443", host)
    assert not check("http://chat.example", host)
    assert not check("https://chat.example:8443", host)
    assert not check("https://evil.example", host)


# ---- the Origin check, on a worker ----------------------------------------------------------------------


async def test_cross_origin_handshakes_are_refused_on_both_transports(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with (
        worker_with(shared_redis_url, key_prefix) as worker,
        httpx.AsyncClient(base_url=worker.url, timeout=5) as http,
    ):
        for origin in ("http://evil.example", "null", "http://127.0.0.1:1"):
            assert not await websocket_opens(worker.url, Origin=origin), origin
            refused = await polling_opens(http, Origin=origin)
            assert refused.status_code == 400 and "not an accepted origin" in refused.text, origin
            assert "access-control-allow-origin" not in refused.headers
        # the page's own origin, and no Origin at all, are accepted
        assert await websocket_opens(worker.url, Origin=worker.url)
        assert await websocket_opens(worker.url)
        own = await polling_opens(http, Origin=worker.url)
        assert own.status_code == 200 and own.text.startswith("0{")
        assert (await polling_opens(http)).status_code == 200


async def test_allowed_origins_admits_the_configured_origin(shared_redis_url: str, key_prefix: str) -> None:
    env = {"ALLOWED_ORIGINS": "https://chat.example, https://other.example:8443"}
    async with (
        worker_with(shared_redis_url, key_prefix, **env) as worker,
        httpx.AsyncClient(base_url=worker.url, timeout=5) as http,
    ):
        assert await websocket_opens(worker.url, Origin="https://chat.example")
        assert await websocket_opens(worker.url, Origin="https://other.example:8443")
        assert await websocket_opens(worker.url, Origin=worker.url)  # the page's own still works
        assert not await websocket_opens(worker.url, Origin="https://evil.example")
        admitted = await polling_opens(http, Origin="https://chat.example")
        assert admitted.status_code == 200
        assert admitted.headers["access-control-allow-origin"] == "https://chat.example"
        assert (await polling_opens(http, Origin="https://evil.example")).status_code == 400


async def test_clients_without_an_origin_chat_as_before(shared_redis_url: str, key_prefix: str) -> None:
    async with worker_with(shared_redis_url, key_prefix) as worker:
        alice, bob = ChatClient("alice"), ChatClient("bob")
        try:
            await alice.connect(worker.url, ["polling", "websocket"])
            await bob.connect(worker.url, ["polling"])
            await alice.login()
            await bob.login()
            assert (await alice.say("hello")).get("ok") is True
            assert (await bob.wait_for("new message"))["message"] == "hello"
        finally:
            await alice.close()
            await bob.close()


async def test_the_page_origin_passes_the_emulators_alb_and_another_does_not(
    shared_redis_url: str, key_prefix: str
) -> None:
    """The ALB keeps Host, so the page's origin (the load balancer's address) matches it on the worker."""
    async with (
        deployment(shared_redis_url, key_prefix, workers=1) as lb,
        httpx.AsyncClient(base_url=lb.url, timeout=5) as http,
    ):
        assert await websocket_opens(lb.url, Origin=lb.url)
        assert not await websocket_opens(lb.url, Origin="http://evil.example")
        assert (await polling_opens(http, Origin=lb.url)).status_code == 200
        assert (await polling_opens(http, Origin="http://evil.example")).status_code == 400


# ---- headers, /healthz, /metrics ------------------------------------------------------------------------


def assert_secure(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    headers = response.headers
    assert headers.get("x-frame-options") == "DENY", where
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), where
    assert headers.get("referrer-policy") == "no-referrer", where
    assert headers.get("x-content-type-options") == "nosniff", where


async def test_every_route_sends_the_security_headers(shared_redis_url: str, key_prefix: str) -> None:
    async with (
        worker_with(shared_redis_url, key_prefix) as worker,
        httpx.AsyncClient(base_url=worker.url, timeout=5) as http,
    ):
        responses = [
            await http.get("/"),
            await http.get("/index.html"),
            await http.get("/static/chat.js"),
            await http.get("/static/style.css"),
            await http.get("/static/missing.js"),
            await http.get("/healthz"),
            await http.get("/metrics"),
            await http.get("/nope"),
            await http.post("/healthz"),
            await http.get(EIO_POLLING),
            await http.get(f"{EIO_POLLING}&sid=unknown"),
        ]
        assert [r.status_code for r in responses] == [200, 200, 200, 200, 404, 200, 200, 404, 405, 200, 400]
        for response in responses:
            assert_secure(response)
        policy = responses[0].headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["connect-src"] == "'self'"  # no scheme-wide ws: / wss:
        assert directives["default-src"] == "'self'"


async def test_healthz_tells_outsiders_only_unhealthy_and_metrics_say_why(key_prefix: str) -> None:
    closed = free_port()  # nothing listens here: Redis is unreachable
    async with (
        worker_with(f"redis://127.0.0.1:{closed}/0", key_prefix) as worker,
        httpx.AsyncClient(base_url=worker.url, timeout=10) as http,
    ):
        health = await http.get("/healthz")
        assert (health.status_code, health.text) == (503, "unhealthy\n")
        assert str(closed) not in health.text and "127.0.0.1" not in health.text
        metrics = (await http.get("/metrics")).text
        assert "chat_healthy 0" in metrics.splitlines()
        [info] = [line for line in metrics.splitlines() if line.startswith("chat_health_info{")]
        assert 'reason="redis unreachable' in info


async def test_healthz_says_ok_when_healthy(shared_redis_url: str, key_prefix: str) -> None:
    async with (
        worker_with(shared_redis_url, key_prefix) as worker,
        httpx.AsyncClient(base_url=worker.url, timeout=5) as http,
    ):
        health = await http.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok\n")
        metrics = (await http.get("/metrics")).text.splitlines()
        assert "chat_healthy 1" in metrics and 'chat_health_info{reason=""} 1' in metrics


async def test_metrics_port_off_serves_no_metrics(shared_redis_url: str, key_prefix: str) -> None:
    async with (
        worker_with(shared_redis_url, key_prefix, METRICS_PORT="off") as worker,
        httpx.AsyncClient(base_url=worker.url, timeout=5) as http,
    ):
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/healthz")).status_code == 200


async def test_metrics_port_serves_metrics_there_only(shared_redis_url: str, key_prefix: str) -> None:
    port = free_port()
    async with (
        worker_with(shared_redis_url, key_prefix, METRICS_PORT=str(port)) as worker,
        httpx.AsyncClient(timeout=5) as http,
    ):
        assert (await http.get(f"{worker.url}/metrics")).status_code == 404
        wait_for_port("127.0.0.1", port)  # the second listener starts right after the first
        metrics = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert metrics.status_code == 200
        assert "chat_connections 0" in metrics.text.splitlines() and "chat_healthy 1" in metrics.text
        assert_secure(metrics)
        for path in ("/", "/healthz", f"{EIO_POLLING}"):
            assert (await http.get(f"http://127.0.0.1:{port}{path}")).status_code == 404, path
        assert json.loads((await http.get(f"{worker.url}{EIO_POLLING}")).text[1:])["sid"]

"""python-socketio through the load balancer, two workers with no shared state: polling then upgrade
works with stickiness, and fails the way Socket.IO's docs warn without it; WebSocket-only always works."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
import pytest
import socketio
import uvicorn

from emulator.alb import LoadBalancer, TargetGroup
from emulator.alb.health import probe
from emulator.clock import WallClock

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@asynccontextmanager
async def socketio_worker(name: str, port: int) -> AsyncIterator[None]:
    sio = socketio.AsyncServer(async_mode="asgi")
    sio.on("whoami", lambda sid: name)
    config = uvicorn.Config(
        socketio.ASGIApp(sio), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(), name=f"sio-worker-{name}")
    for _ in range(1000):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, f"worker {name} did not start"
    try:
        yield
    finally:
        server.should_exit = server.force_exit = True
        await task


@asynccontextmanager
async def two_workers_behind(
    alb_settings: Any, *, sticky: bool, drop_cookies: bool = False
) -> AsyncIterator[LoadBalancer]:
    ports = [_free_port(), _free_port()]
    async with socketio_worker("w0", ports[0]), socketio_worker("w1", ports[1]):
        tg = TargetGroup(alb_settings(sticky=sticky), WallClock())
        for index, port in enumerate(ports):
            tg.register(f"w{index}", "127.0.0.1", port)
            check = await probe("127.0.0.1", port, "/socket.io/?EIO=4&transport=polling", frozenset({200}))
            assert check.ok
            tg.record_health(f"w{index}", check)  # one passing check: healthy
        async with LoadBalancer(tg, drop_cookies=drop_cookies) as lb:
            yield lb
        await tg.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def client() -> socketio.AsyncClient:
    # aiohttp keeps no cookies for IP-address hosts unless the jar is "unsafe".
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    return socketio.AsyncClient(http_session=session, reconnection=False)


async def close(sio: socketio.AsyncClient) -> None:
    await sio.disconnect()
    await sio.eio.http.close()


async def test_sticky_polling_then_upgrade_stays_on_one_worker(alb_settings: Any) -> None:
    async with two_workers_behind(alb_settings, sticky=True) as lb:
        alice, bob = client(), client()
        try:
            await alice.connect(lb.url, transports=["polling", "websocket"], wait_timeout=10)
            await bob.connect(lb.url, transports=["polling", "websocket"], wait_timeout=10)
            alice_home = {await alice.call("whoami", timeout=10) for _ in range(5)}
            bob_home = {await bob.call("whoami", timeout=10) for _ in range(5)}
            assert len(alice_home) == 1 and len(bob_home) == 1 and alice_home != bob_home
            for _ in range(100):
                if alice.transport() == "websocket":
                    break
                await asyncio.sleep(0.05)
            assert alice.transport() == "websocket"
            assert {await alice.call("whoami", timeout=10)} == alice_home
        finally:
            await close(alice)
            await close(bob)


@pytest.mark.parametrize("mode", ["stickiness off", "drop cookies"])
async def test_polling_fails_without_stickiness_but_websocket_only_works(
    alb_settings: Any, mode: str
) -> None:
    sticky, drop = (False, False) if mode == "stickiness off" else (True, True)
    async with two_workers_behind(alb_settings, sticky=sticky, drop_cookies=drop) as lb:
        async with httpx.AsyncClient(base_url=lb.url) as http:
            handshake = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
            sid = json.loads(handshake.text[1:])["sid"]
            second = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling", "sid": sid})
        assert second.status_code == 400  # round robin sent it to the worker that never saw this sid
        polling = client()
        try:
            with pytest.raises(socketio.exceptions.ConnectionError):
                await polling.connect(lb.url, transports=["polling"], wait_timeout=1)
        finally:
            await close(polling)
        ws_only = client()
        try:
            await ws_only.connect(lb.url, transports=["websocket"], wait_timeout=10)
            assert await ws_only.call("whoami", timeout=10) in ("w0", "w1")
        finally:
            await close(ws_only)

"""WebSockets through the load balancer: pinned to the target that answered 101, byte-transparent
(text, binary, ping/pong, compression), counted as open connections, and closed when draining ends."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from emulator.alb import TargetState
from emulator.clock import ScaledClock


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/ws"


async def test_a_websocket_stays_on_its_target_and_passes_frames_unchanged(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    payload = os.urandom(256 * 1024)
    async with backends(2) as bs, balancer_for(alb_settings(), bs) as (tg, lb), connect(ws_url(lb.url)) as ws:
        home = await ws.recv()
        for index in range(5):
            await ws.send(f"text {index} ✓")
            assert await ws.recv() == f"text {index} ✓"
            await ws.send(payload[index:])
            assert await ws.recv() == payload[index:]
        latency = await asyncio.wait_for(await ws.ping(b"are you there"), 5)
        assert latency >= 0
        counts = {t.target_id: t.open_connections for t in tg.describe()}
        assert counts == {home: 1, ({"b0", "b1"} - {home}).pop(): 0}
        assert [t.in_flight_requests for t in tg.describe()] == [0, 0]  # a WebSocket is a connection
    assert home in ("b0", "b1")
    assert sum(b.requests for b in bs) == 0  # the upgrade is not an HTTP request the app counts


async def test_the_upgrade_follows_the_stickiness_cookie(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    async with backends(3) as bs, balancer_for(alb_settings(sticky=True), bs) as (_, lb):
        async with httpx.AsyncClient(base_url=lb.url) as http:
            for _ in range(2):  # move round robin along, so a cookie-less upgrade would land elsewhere
                await http.get("/whoami")
            home = (await http.get("/whoami")).text
            cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        async with connect(ws_url(lb.url), additional_headers={"Cookie": cookie}) as ws:
            assert await ws.recv() == home


async def test_a_refused_upgrade_is_a_502(alb_settings: Any, backends: Any, balancer_for: Any) -> None:
    async with backends(1) as bs, balancer_for(alb_settings(), bs) as (_, lb):
        await bs[0].stop()
        with pytest.raises(Exception, match="502"):
            async with connect(ws_url(lb.url)):
                pass


async def test_draining_keeps_the_websocket_until_the_delay_ends_then_closes_it(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    clock = ScaledClock(20)  # a 10 s deregistration delay takes 0.5 s
    async with (
        backends(2) as bs,
        balancer_for(alb_settings(delay=10), bs, clock=clock) as (tg, lb),
        connect(ws_url(lb.url)) as ws,
    ):
        home = await ws.recv()
        tg.deregister(home)
        async with httpx.AsyncClient(base_url=lb.url) as http:
            others = {(await http.get("/whoami")).text for _ in range(4)}
        assert home not in others  # no new requests reach the draining target
        await ws.send("still here")
        assert await ws.recv() == "still here"  # open connections stay during the delay
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert tg.state(home) is TargetState.UNUSED


async def test_stopping_the_load_balancer_closes_websockets(
    alb_settings: Any, backends: Any, balancer_for: Any
) -> None:
    async with backends(1) as bs, balancer_for(alb_settings(), bs) as (tg, lb):
        async with connect(ws_url(lb.url)) as ws:
            await ws.recv()
            await lb.stop()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
        assert tg.describe()[0].open_connections == 0

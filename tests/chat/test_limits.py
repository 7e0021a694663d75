"""Every documented limit holds on every transport: what a client may send (MAX_PACKET_BYTES), what may wait for
it (MAX_UNSENT_BYTES, long-polling and compressed WebSocket too), how long a session may stay without joining
(CONNECT_TIMEOUT) and how many sessions a worker holds (MAX_CONNECTIONS). Real `python -m chat` workers on real
Redis, driven over raw sockets where the point is what the transport does."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from support.chat_client import ChatClient
from support.workers import WorkerProcess, metric, start_worker

EIO_WS = "/socket.io/?EIO=4&transport=websocket"
EIO_POLLING = "/socket.io/?EIO=4&transport=polling"
FAST = {"MESSAGE_RATE": "100000", "MESSAGE_BURST": "100000"}


async def metrics_of(worker: WorkerProcess) -> str:
    async with httpx.AsyncClient(base_url=worker.url, timeout=5) as http:
        return (await http.get("/metrics")).text


async def counted(worker: WorkerProcess, name: str, timeout: float = 10.0) -> float:
    """The counter `name` once it is not 0 (deliveries follow a publish's ack by a moment), or 0 after `timeout`."""
    async with asyncio.timeout(timeout):
        while not (value := metric(await metrics_of(worker), name)):
            await asyncio.sleep(0.05)
    return value


@contextlib.asynccontextmanager
async def worker_with(shared_redis_url: str, key_prefix: str, **env: str) -> AsyncIterator[WorkerProcess]:
    worker = start_worker(shared_redis_url, key_prefix, **env)
    try:
        yield worker
    finally:
        worker.stop()


# ---- a raw WebSocket client, to send exactly the bytes a test needs ------------------------------------


async def raw_websocket(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {EIO_WS} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101"), status
    return reader, writer


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", await reader.readexactly(8))[0]
    return first & 0x0F, await reader.readexactly(size)


def masked_frame_header(size: int) -> bytes:
    """The header of a client's final text frame announcing `size` bytes (RFC 6455 5.2), mask key included."""
    return bytes((0x81, 0x80 | 127)) + struct.pack("!Q", size) + os.urandom(4)


# ---- MAX_PACKET_BYTES -----------------------------------------------------------------------------------


async def test_a_1_mib_websocket_frame_is_refused_with_1009_before_its_payload_and_others_chat_on(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with worker_with(shared_redis_url, key_prefix) as worker:
        alice, bob = ChatClient("alice"), ChatClient("bob")
        try:
            for client in (alice, bob):
                await client.connect(worker.url, ["websocket"])
                await client.login()
            reader, writer = await raw_websocket(worker.port)
            try:
                opcode, payload = await read_frame(reader)  # Engine.IO open packet
                assert opcode == 1 and payload.startswith(b"0{")
                # only the header and a few bytes of a 1 MiB message: the worker must answer without the rest
                writer.write(masked_frame_header(1 << 20) + b"4" * 100)
                await writer.drain()
                opcode, payload = await asyncio.wait_for(read_frame(reader), 10)
                assert opcode == 8, (opcode, payload)  # close
                assert struct.unpack("!H", payload[:2])[0] == 1009
                assert b"65536" in payload[2:]  # the reason names the limit
            finally:
                writer.close()
            assert (await alice.say("still here"))["ok"] is True
            message = await bob.wait_for("new message", lambda m: m["username"] == "alice")
            assert message["message"] == "still here"
        finally:
            await alice.close()
            await bob.close()


async def test_a_polling_post_announcing_1_mb_gets_413_before_its_body_is_sent(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with worker_with(shared_redis_url, key_prefix) as worker:
        async with httpx.AsyncClient(base_url=worker.url, timeout=5) as http:
            handshake = await http.get(EIO_POLLING)
            sid = json.loads(handshake.text[1:])["sid"]
        reader, writer = await asyncio.open_connection("127.0.0.1", worker.port)
        try:
            writer.write(
                (
                    f"POST {EIO_POLLING}&sid={sid} HTTP/1.1\r\nHost: 127.0.0.1:{worker.port}\r\n"
                    "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 1000000\r\n\r\n4"
                ).encode()
            )
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 10)
            assert status.startswith(b"HTTP/1.1 413"), status
        finally:
            writer.close()
        async with httpx.AsyncClient(base_url=worker.url, timeout=5) as http:
            # the packet is lost, so the session ended (as a WebSocket closed with 1009): the client reconnects
            assert (await http.get(f"{EIO_POLLING}&sid={sid}")).status_code == 400
            assert metric((await http.get("/metrics")).text, "chat_oversized_posts_total") == 1


async def test_a_bad_polling_post_is_answered_even_if_the_client_never_polls(
    shared_redis_url: str, key_prefix: str
) -> None:
    """python-engineio ends a session that POSTs a packet a client may not send (here OPEN) and, by default,
    waits until the client has polled the goodbye: a client that never polls held the request forever."""
    async with (
        worker_with(shared_redis_url, key_prefix) as worker,
        httpx.AsyncClient(base_url=worker.url, timeout=10) as http,
    ):
        sid = json.loads((await http.get(EIO_POLLING)).text[1:])["sid"]
        response = await http.post(f"{EIO_POLLING}&sid={sid}", content=b"0")
        assert response.status_code == 400
        assert (await http.get(f"{EIO_POLLING}&sid={sid}")).status_code == 400


# ---- MAX_UNSENT_BYTES -----------------------------------------------------------------------------------


async def test_a_polling_client_that_never_polls_is_cut_off_while_broadcasts_flow(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with worker_with(shared_redis_url, key_prefix, MAX_UNSENT_BYTES="100000", **FAST) as worker:
        sender = ChatClient("sender")
        try:
            async with httpx.AsyncClient(base_url=worker.url, timeout=10) as http:
                sid = json.loads((await http.get(EIO_POLLING)).text[1:])["sid"]
                session = f"{EIO_POLLING}&sid={sid}"
                assert (await http.post(session, content=b"40")).status_code == 200
                assert (await http.get(session)).text.startswith("40{")
                assert (await http.post(session, content=b'42["add user","poller"]')).status_code == 200
                # from here on the poller only POSTs (it keeps its heartbeat going) and never GETs
                await sender.connect(worker.url, ["websocket"])
                await sender.login()
                text = "m" * 1990
                for i in range(100):  # 200 kB, twice the limit
                    assert (await sender.say(f"{i} {text}"))["ok"] is True
                    if i % 20 == 0:
                        assert (await http.post(session, content=b"3")).status_code in (200, 400)
                assert await counted(worker, "chat_slow_consumers_cut_total") == 1
                # its session is gone (what waited for it with it); the sender still chats
                assert (await http.get(session)).status_code == 400
            assert (await sender.say("after"))["ok"] is True
        finally:
            await sender.close()


async def test_a_compressed_websocket_client_that_never_reads_is_cut_off(
    shared_redis_url: str, key_prefix: str
) -> None:
    env = {"WS_COMPRESSION": "true", "MAX_UNSENT_BYTES": "100000", "MAX_MESSAGE_LENGTH": "50000", **FAST}
    env |= {
        "PING_INTERVAL": "20",
        "PING_TIMEOUT": "60",
    }  # it cannot answer heartbeats: the limit must act first
    async with worker_with(shared_redis_url, key_prefix, **env) as worker:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the backlog stays on the worker's side
        raw.connect(("127.0.0.1", worker.port))
        stalled = await websockets.connect(
            f"ws://127.0.0.1:{worker.port}{EIO_WS}",
            sock=raw,
            compression="deflate",
            max_size=None,
            max_queue=4,
        )
        sender = ChatClient("sender")
        try:
            assert stalled.protocol.extensions, "permessage-deflate was negotiated"
            await stalled.recv()
            await stalled.send("40")
            await stalled.recv()
            await stalled.send('42["add user","stalled"]')
            await sender.connect(worker.url, ["websocket"])
            await sender.login()
            for i in range(400):  # up to 16 MB that deflate cannot shrink much (random base64)
                assert (await sender.say(base64.b64encode(os.urandom(30000)).decode()))["ok"] is True
                if i % 10 == 0 and metric(await metrics_of(worker), "chat_slow_consumers_cut_total"):
                    break
            assert await counted(worker, "chat_slow_consumers_cut_total") == 1
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:  # what was already on its way, then the close frame
                    await asyncio.wait_for(stalled.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
            assert (await sender.say("after"))["ok"] is True
        finally:
            stalled.transport.abort()
            await sender.close()


# ---- CONNECT_TIMEOUT ------------------------------------------------------------------------------------


async def test_sessions_that_never_join_are_closed_after_connect_timeout(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with worker_with(shared_redis_url, key_prefix, CONNECT_TIMEOUT="0.5") as worker:
        async with websockets.connect(f"ws://127.0.0.1:{worker.port}{EIO_WS}") as idle:
            await idle.recv()  # Engine.IO open; no Socket.IO CONNECT follows
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(idle.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        async with httpx.AsyncClient(base_url=worker.url, timeout=10) as http:
            sid = json.loads((await http.get(EIO_POLLING)).text[1:])["sid"]
            poll = await http.get(f"{EIO_POLLING}&sid={sid}")
            assert poll.text.split("\x1e")[-1] == "1"  # Engine.IO CLOSE
            assert (await http.get(f"{EIO_POLLING}&sid={sid}")).status_code == 400
            assert metric((await http.get("/metrics")).text, "chat_connect_timeouts_total") == 2
        client = ChatClient("joins in time")  # a client that does join is not affected
        try:
            await client.connect(worker.url)
            assert (await client.login())["ok"] is True
            await asyncio.sleep(1)
            assert (await client.say("still connected"))["ok"] is True
        finally:
            await client.close()


# ---- MAX_CONNECTIONS ------------------------------------------------------------------------------------


async def test_max_connections_counts_engineio_sessions_and_refuses_the_next_handshake(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with worker_with(shared_redis_url, key_prefix, MAX_CONNECTIONS="2") as worker:
        url = f"ws://127.0.0.1:{worker.port}{EIO_WS}"
        first, second = await websockets.connect(url), await websockets.connect(url)
        try:
            for session in (first, second):  # sessions that never join still count
                assert (await session.recv()).startswith("0{")
            third = await websockets.connect(url)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(third.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            assert "server full: 2" in closed.value.rcvd.reason
            async with httpx.AsyncClient(base_url=worker.url, timeout=5) as http:
                refused = await http.get(EIO_POLLING)
                assert refused.status_code == 503 and "server full: 2" in refused.json()
                await first.close()
                accepted: Any = None
                for _ in range(100):  # the freed place is taken by the next handshake
                    accepted = await http.get(EIO_POLLING)
                    if accepted.status_code == 200:
                        break
                    await asyncio.sleep(0.05)
                assert accepted.status_code == 200, accepted.text
                assert metric((await http.get("/metrics")).text, "chat_connections_refused_total") >= 2
        finally:
            await first.close()
            await second.close()

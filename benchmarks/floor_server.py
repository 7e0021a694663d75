"""The floors under the project's figures: the same stack with nothing of ours on it, for `compare.py`.

    .venv/bin/python benchmarks/floor_server.py socketio   # stock python-socketio (ASGIApp) on uvicorn
    .venv/bin/python benchmarks/floor_server.py uvicorn    # uvicorn's WebSocket and a bare ASGI app, no library

`compare.py idle fanout-200 --servers project,node,floor-socketio,floor-uvicorn` runs them beside the project and
Node: what an idle WebSocket connection and a delivery cost on the stack the project is built on (python-socketio
on uvicorn, as the mission says) with nothing of ours, and on uvicorn alone. Both listen on `HOST`:`PORT` (the
environment compare.py gives every server), answer `GET /` with 200, keep no Redis connection, and speak just
enough of the seed's protocol for the load generator's idle and fanout scenarios: Engine.IO open, Socket.IO
CONNECT, `add user` answered with `login` (no `user joined`), `new message` sent on to every other logged-in
client, the heartbeat. uvicorn runs with the project's worker's settings: uvloop, httptools, the websockets-sansio
protocol as uvicorn ships it (the project runs a leaner subclass of it, `chat._compat.websocket_protocol()`, so the
project's memory per connection can be below this floor's), no WebSocket ping of its own, no permessage-deflate.

- `socketio`: python-socketio's own way, `emit(..., room=..., skip_sid=...)` (a packet queued per recipient).
- `uvicorn`: the least a Python server on uvicorn can do per delivery: the broadcast framed once
  (`chat.wire.text_frame`) and written to each recipient's transport (found through `chat._compat`, the
  project's one seam to library internals), with no Redis round trip in between, which the project and Node's
  reference both make. Its PINGs come from one task that visits every connection each `PING_INTERVAL`
  (Engine.IO's client closes a connection that hears no PING for PING_INTERVAL + PING_TIMEOUT).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from chat._compat import raw_transport
from chat.wire import text_frame

PING_INTERVAL = float(os.environ.get("PING_INTERVAL", "25"))
PING_TIMEOUT = float(os.environ.get("PING_TIMEOUT", "20"))

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def socketio_app() -> Any:
    """Stock python-socketio: an AsyncServer with the three handlers the load generator needs, in its ASGIApp."""
    import socketio

    sio = socketio.AsyncServer(
        async_mode="asgi", ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT, cors_allowed_origins="*"
    )

    names: dict[str, str] = {}

    @sio.on("add user")  # type: ignore[untyped-decorator]
    async def add_user(sid: str, name: Any = "", *_: Any) -> None:
        names[sid] = str(name)
        await sio.enter_room(sid, "users")
        await sio.emit("login", {"numUsers": 1}, to=sid)

    @sio.on("new message")  # type: ignore[untyped-decorator]
    async def new_message(sid: str, message: Any = "", *_: Any) -> None:
        await sio.emit(
            "new message", {"username": names.get(sid, ""), "message": message}, room="users", skip_sid=sid
        )

    @sio.on("disconnect")  # type: ignore[untyped-decorator]
    async def disconnect(sid: str, *_: Any) -> None:
        names.pop(sid, None)

    return socketio.ASGIApp(sio, static_files={"/": {"content_type": "text/plain", "filename": __file__}})


class Peer:
    """One bare connection: its ASGI send, its transport (for pre-framed broadcasts), its name once logged in."""

    __slots__ = ("name", "send", "transport")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.transport = raw_transport(
            send
        )  # None if uvicorn changed shape: the load generator then sees loss
        self.name = ""


class BareApp:
    """An ASGI app speaking the least of Engine.IO 4 / Socket.IO 5 over WebSocket that the load generator needs:
    `new message` is framed once and written to every other logged-in client's transport (what the project's
    `chat.delivery` does, without Redis between senders and readers)."""

    def __init__(self) -> None:
        self.peers: dict[str, Peer] = {}  # engine.io sid -> the connection
        self.pinger: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
            )
            await send({"type": "http.response.body", "body": b"floor\n"})
        elif scope["type"] == "websocket":
            await self.websocket(receive, send)

    async def websocket(self, receive: Receive, send: Send) -> None:
        if self.pinger is None:
            self.pinger = asyncio.get_running_loop().create_task(self.ping_all())
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        sid = secrets.token_urlsafe(15)
        opened = {"sid": sid, "upgrades": [], "pingInterval": int(PING_INTERVAL * 1000)}
        opened |= {"pingTimeout": int(PING_TIMEOUT * 1000), "maxPayload": 1_000_000}
        await send({"type": "websocket.send", "text": "0" + json.dumps(opened)})
        self.peers[sid] = peer = Peer(send)
        try:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    return
                text = message.get("text") or ""
                if text.startswith('42["new message"'):
                    self.broadcast(peer, json.loads(text[2:])[1])
                elif text == "40":
                    answer = "40" + json.dumps({"sid": secrets.token_urlsafe(15)})
                    await send({"type": "websocket.send", "text": answer})
                elif text.startswith('42["add user"'):
                    peer.name = str(json.loads(text[2:])[1])
                    await send({"type": "websocket.send", "text": '42["login",{"numUsers":1}]'})
        finally:
            self.peers.pop(sid, None)

    def broadcast(self, sender: Peer, message: Any) -> None:
        payload = json.dumps(
            ["new message", {"username": sender.name, "message": message}], separators=(",", ":")
        )
        frame = text_frame("42" + payload)
        for peer in self.peers.values():
            if peer is not sender and peer.name and peer.transport is not None:
                peer.transport.write(frame)

    async def ping_all(self) -> None:
        while True:
            await asyncio.sleep(PING_INTERVAL)
            for peer in list(self.peers.values()):
                try:
                    await peer.send({"type": "websocket.send", "text": "2"})
                except Exception:  # closed meanwhile
                    continue


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("socketio", "uvicorn"):
        print(__doc__, file=sys.stderr)
        return 2
    app = socketio_app() if argv[0] == "socketio" else BareApp()
    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        lifespan="off",
        log_level="warning",
        access_log=False,
        ws="websockets-sansio",
        ws_ping_interval=None,
        ws_per_message_deflate=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

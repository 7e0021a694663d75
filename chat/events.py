"""The seed's chat protocol on a python-socketio AsyncServer, with input checks.

Client -> server: `add user` (username), `new message` (text), `typing`, `stop typing`.
Server -> client: `login` {numUsers} to the joiner; `user joined` / `user left` {username, numUsers} and
`new message` {username, message} / `typing` / `stop typing` {username} to everyone but the sender.

Bad input never breaks the connection: the offending event's ack gets {"ok": false, "error": ...} and the
client also receives an `error` event {event, message}. Accepted `add user` / `new message` ack {"ok": true}.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio

from chat.config import Settings
from chat.presence import Presence

log = logging.getLogger("chat.events")

Ack = dict[str, Any]


class ChatEvents:
    """Registers the chat's handlers on `sio` and keeps this worker's logged-in users."""

    def __init__(self, sio: socketio.AsyncServer, presence: Presence, settings: Settings) -> None:
        self.sio = sio
        self.presence = presence
        self.settings = settings
        self.usernames: dict[str, str] = {}  # sid -> username, this worker's logged-in users
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        sio.on("add user", self.on_add_user)
        sio.on("new message", self.on_new_message)
        sio.on("typing", self.on_typing)
        sio.on("stop typing", self.on_stop_typing)
        sio.on("*", self.on_unknown)

    async def refuse(self, sid: str, event: str, message: str) -> Ack:
        await self.sio.emit("error", {"event": event, "message": message}, to=sid)
        return {"ok": False, "error": message}

    def check_text(self, value: Any, what: str, limit: int) -> str | None:
        """Return why `value` is not acceptable, or None when it is."""
        if not isinstance(value, str):
            return f"{what} must be a string"
        if not value.strip():
            return f"{what} must not be empty"
        if len(value) > limit:
            return f"{what} is longer than {limit} characters"
        return None

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        log.debug("connect %s", sid)

    async def on_add_user(self, sid: str, username: Any = None, *extra: Any) -> Ack:
        if sid in self.usernames:
            return await self.refuse(sid, "add user", f"already joined as {self.usernames[sid]!r}")
        problem = self.check_text(username, "username", self.settings.max_username_length)
        if problem:
            return await self.refuse(sid, "add user", problem)
        name = username.strip()
        self.usernames[sid] = name
        num_users = await self.presence.join(sid)
        await self.sio.emit("login", {"numUsers": num_users}, to=sid)
        await self.sio.emit("user joined", {"username": name, "numUsers": num_users}, skip_sid=sid)
        return {"ok": True, "numUsers": num_users}

    async def on_new_message(self, sid: str, message: Any = None, *extra: Any) -> Ack:
        name = self.usernames.get(sid)
        if name is None:
            return await self.refuse(sid, "new message", "send `add user` before `new message`")
        problem = self.check_text(message, "message", self.settings.max_message_length)
        if problem:
            return await self.refuse(sid, "new message", problem)
        await self.sio.emit("new message", {"username": name, "message": message}, skip_sid=sid)
        return {"ok": True}

    async def on_typing(self, sid: str, *args: Any) -> Ack | None:
        return await self._typing(sid, "typing")

    async def on_stop_typing(self, sid: str, *args: Any) -> Ack | None:
        return await self._typing(sid, "stop typing")

    async def _typing(self, sid: str, event: str) -> Ack | None:
        name = self.usernames.get(sid)
        if name is None:
            return await self.refuse(sid, event, f"send `add user` before `{event}`")
        await self.sio.emit(event, {"username": name}, skip_sid=sid)
        return None

    async def on_unknown(self, event: str, sid: str, *args: Any) -> Ack:
        return await self.refuse(sid, event, f"unknown event {event!r}")

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        name = self.usernames.pop(sid, None)
        if name is None:
            return
        num_users = await self.presence.leave(sid)
        await self.sio.emit("user left", {"username": name, "numUsers": num_users}, skip_sid=sid)

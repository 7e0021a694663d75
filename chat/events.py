"""The seed's chat protocol, with input checks, limits, connection-state recovery and exactly-once sends.

Client -> server: `add user` (username), `new message` (text), `typing`, `stop typing`.
Server -> client: `login` {numUsers} to the joiner; `user joined` / `user left` {username, numUsers} and
`new message` {username, message} / `typing` / `stop typing` {username} to everyone but the sender. Every
broadcast event carries its stream offset as a last, extra string argument (Socket.IO v5 recovery).

An ack is a promise. `add user` and `new message` are acked {"ok": true} only once Redis holds what they
stored; while Redis is unreachable the handler keeps trying for `PUBLISH_TIMEOUT`, then answers a retryable
refusal {"ok": false, "error": ..., "retry": true}: nothing was stored, send it again (with the same id).
Bad input never breaks the connection: the offending event's ack gets {"ok": false, "error": ...} (no `retry`)
and the client also receives an `error` event {event, message, retry}.

One client's `add user` and `new message` events are handled one after the other, in the order it sent them
(`Connection.turn`), while its connection keeps answering heartbeats; typing notices do not wait in that line.
Events still waiting when the client disconnects are dropped, unacked (the client sends them again). The message rate limit shapes instead of refusing: a message over the
rate waits its turn, so a client flushing what it queued during an outage gets everything through; only past
`MESSAGE_QUEUE` messages waiting is a message refused (retryable).

A connection is identified across reconnects by its private session id (pid). A client that reconnects with
{pid, offset} within the recovery window, to any worker, gets its name back and what it missed, and nobody is
told it left. A `new message` whose id is one of the last `RECENT_IDS` the session had accepted, on any
connection and worker, is acknowledged again ({"ok": true, "duplicate": true}) but not sent twice; its stream
entry is named by (session, id), so even two workers that both published it deliver it once. Without an id, a
message identical to the last one the session had accepted on its previous connection counts as a resend.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from socketio import exceptions

from chat import text
from chat.config import Settings
from chat.delivery import Delivery
from chat.durable import Rejected, Unavailable, until_durable
from chat.engine import Admission, ChatServer
from chat.fanout import Fanout
from chat.limits import TokenBucket
from chat.presence import Presence
from chat.sessions import RecentIds, Sessions, fingerprint

log = logging.getLogger("chat.events")

Ack = dict[str, Any]
T = TypeVar("T")
CLIENT_LEFT = ("client disconnect", "server disconnect")
MAX_ID_LENGTH = 64
STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")  # a stream offset, as a client reports it back


@dataclass
class Connection:
    """One client connection on this worker."""

    sid: str
    pid: str
    messages: TokenBucket
    typing: TokenBucket
    username: str | None = None
    last_fingerprint: str = ""
    recovered_from: str = ""  # the sid this session had before a recovery (to drop a retried duplicate)
    previous_pid: str = ""  # the session id the client presented when its session could not be recovered
    inherited_ids: bool = False  # the previous session's accepted ids were loaded (see `_send`)
    closed: bool = (
        False  # disconnected: its events still waiting are dropped, unacked, for the client to resend
    )
    recent_ids: RecentIds = field(default_factory=RecentIds)
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)  # one event at a time, in arrival order
    waiting: int = 0  # events holding or waiting for the turn
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


class ChatEvents:
    """Registers the chat's handlers on `sio`; owns this worker's connections."""

    def __init__(
        self,
        sio: ChatServer,
        fanout: Fanout,
        delivery: Delivery,
        presence: Presence,
        sessions: Sessions,
        settings: Settings,
    ) -> None:
        self.sio = sio
        self.fanout = fanout
        self.delivery = delivery
        self.presence = presence
        self.sessions = sessions
        self.settings = settings
        self.connections: dict[str, Connection] = {}
        self.draining = False
        self.refused_full = 0
        self.rate_limited = 0
        self.queue_refusals = 0
        self.duplicates_dropped = 0
        self.messages_accepted = 0
        self.sessions_recovered = 0
        self.handler_errors = 0
        sio.admit_with(self.admit)
        sio.on("disconnect", self.on_disconnect)
        for event, handler in (
            ("add user", self.on_add_user),
            ("new message", self.on_new_message),
            ("typing", self.on_typing),
            ("stop typing", self.on_stop_typing),
        ):
            sio.on(event, self._guarded(event, handler))
        sio.on("*", self.on_unknown)

    def _guarded(self, event: str, handler: Callable[..., Awaitable[Ack | None]]) -> Callable[..., Any]:
        """A handler that answers a clear error instead of raising: one bad event never costs a client its ack."""

        @functools.wraps(handler)
        async def guarded(sid: str, *args: Any) -> Ack | None:
            try:
                return await handler(sid, *args)
            except Exception:
                self.handler_errors += 1
                log.exception("%r from %s failed", event, sid)
                return await self.refuse(sid, event, "internal error: the event was not processed")

        return guarded

    async def _durable(self, write: Callable[[], Awaitable[T]], connection: Connection | None = None) -> T:
        abandon = (lambda: connection.closed) if connection is not None else None
        return await until_durable(write, self.settings.publish_timeout, abandon=abandon)

    @contextlib.asynccontextmanager
    async def _turn(self, connection: Connection) -> AsyncIterator[None]:
        """This connection's next event, in arrival order (asyncio.Lock wakes its waiters first come, first
        served; python-socketio starts one task per event, in the order the events arrived)."""
        connection.waiting += 1
        try:
            async with connection.turn:
                yield
        finally:
            connection.waiting -= 1

    # ---- connect, recovery, disconnect --------------------------------------------------------------

    def _connection(self, sid: str, pid: str) -> Connection:
        s = self.settings
        return Connection(
            sid=sid,
            pid=pid,
            messages=TokenBucket(s.message_rate, s.message_burst),
            typing=TokenBucket(s.typing_rate, s.typing_burst),
        )

    async def admit(self, sid: str, environ: dict[str, Any], auth: Any) -> Admission:
        if self.draining:
            raise exceptions.ConnectionRefusedError("server is shutting down: reconnect")
        if len(self.connections) >= self.settings.max_connections:
            self.refused_full += 1
            raise exceptions.ConnectionRefusedError(
                f"server full: {self.settings.max_connections} connections on this worker"
            )
        eio_sid = self.sio.eio_sid_of(sid) or ""
        if (
            isinstance(auth, dict)
            and isinstance(auth.get("pid"), str)
            and isinstance(auth.get("offset"), str)
            and STREAM_ID.fullmatch(auth["offset"])
        ):
            admission = await self._recover(sid, eio_sid, auth["pid"], auth["offset"])
            if admission is not None:
                return admission
        pid = secrets.token_urlsafe(16)
        connection = self._connection(sid, pid)
        if isinstance(auth, dict) and isinstance(auth.get("pid"), str):
            connection.previous_pid = auth["pid"][
                :MAX_ID_LENGTH
            ]  # its name, if it held one, is still its own
        self.connections[sid] = connection
        self.delivery.add(sid, eio_sid, pid)
        self._background(connection, self._save_session(pid, sid), "session")
        return Admission(pid=pid)

    async def _save_session(self, pid: str, sid: str) -> None:
        try:
            await self.sessions.save(pid, sid=sid)
        except Exception as exc:
            log.debug("could not store session %s: %s", pid[:6], exc)

    def _background(self, connection: Connection, coro: Any, what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"{what}:{connection.pid[:6]}")
        connection.tasks.add(task)
        task.add_done_callback(connection.tasks.discard)

    async def _recover(self, sid: str, eio_sid: str, pid: str, offset: str) -> Admission | None:
        # a short Redis outage should not cost the session; the wait stays under the heartbeat's timeout, since
        # this connection's packets (its pongs too) are read only once CONNECT is answered
        patience = min(self.settings.publish_timeout, self.settings.ping_interval)
        try:
            session = await until_durable(lambda: self.sessions.load(pid), patience)
            recent = await self.sessions.recent_ids(pid) if session is not None else []
        except Exception as exc:
            log.warning("recovery of %s impossible now: %s", pid, exc)
            return None
        if session is None:
            return None
        connection = self._connection(sid, pid)
        connection.username = session.get("username") or None
        connection.last_fingerprint = session.get("last", "")
        connection.recovered_from = session.get("sid", "")
        connection.recent_ids = RecentIds(recent)
        self.connections[sid] = connection
        self.delivery.add(sid, eio_sid, pid)
        self.delivery.hold(sid)  # live broadcasts wait until the replay is written
        try:
            missed = await self.fanout.missed_since(offset, pid)
            if missed is not None:
                await self.sessions.save(pid, sid=sid)
                # a name taken by someone else meanwhile: no recovery (the client joins again and is told)
                if connection.username is not None and not await self.presence.claim_name(
                    connection.username, pid
                ):
                    missed = None
                elif connection.username is not None:
                    await self.presence.join(pid)
            if not self.sio.connected(eio_sid):  # the client went away while Redis was slow to answer
                missed = None
        except Exception as exc:
            log.warning("recovery of %s failed: %s", pid, exc)
            missed = None
        if missed is None:
            self.connections.pop(sid, None)
            self.delivery.remove(sid)
            return None
        replay, up_to = missed

        async def catch_up() -> None:  # once CONNECT is answered
            await self.delivery.catch_up(sid, replay, up_to, self.fanout.last_id)

        self.sessions_recovered += 1
        log.info("recovered session %s (%d missed events)", pid[:6], len(replay))
        return Admission(pid=pid, recovered=True, after=catch_up)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        connection = self.connections.pop(sid, None)
        self.delivery.remove(sid)
        if connection is not None:
            connection.closed = True
        if connection is None or connection.username is None:
            return
        if self.draining:
            return  # the client reconnects to another worker and recovers there; nobody left
        if reason in CLIENT_LEFT or self.settings.leave_grace == 0:
            await self._announce_left(connection)
            return
        self._background(connection, self._leave_after_grace(connection), "leave")

    async def _leave_after_grace(self, connection: Connection) -> None:
        """A dropped connection (not a logout): announce the leave unless the session came back meanwhile."""
        await asyncio.sleep(self.settings.leave_grace)
        try:
            session = await self.sessions.load(connection.pid)
        except Exception as exc:
            log.warning("could not check session %s: %s", connection.pid[:6], exc)
            return
        if session is not None and session.get("sid") not in ("", connection.sid):
            return  # recovered on another connection
        await self._announce_left(connection)

    async def _announce_left(self, connection: Connection) -> None:
        name, pid = connection.username or "", connection.pid
        # after the events still in its queue (they see `closed` and stop)
        async with connection.turn:
            try:
                num_users = await self._durable(lambda: self.presence.leave(pid))
                await self._durable(lambda: self.presence.release_name(name, pid))
                await self._durable(lambda: self.sessions.drop(pid))
                await self.fanout.publish("user left", {"username": name, "numUsers": num_users}, pid)
            except Exception as exc:
                log.warning("could not announce that %s left: %s", name, exc)

    # ---- events -------------------------------------------------------------------------------------

    async def refuse(self, sid: str, event: str, message: str, *, retry: bool = False) -> Ack:
        """Answer an event that was not carried out: `retry` says that sending it again later may succeed."""
        await self.sio.emit("error", {"event": event, "message": message, "retry": retry}, to=sid)
        ack: Ack = {"ok": False, "error": message}
        if retry:
            ack["retry"] = True
        return ack

    def _queue_full(self, connection: Connection) -> bool:
        if connection.waiting < self.settings.message_queue:
            return False
        self.queue_refusals += 1
        return True

    async def on_add_user(self, sid: str, username: Any = None, *extra: Any) -> Ack:
        connection = self.connections.get(sid)
        if connection is None:
            return {"ok": False, "error": "not connected"}
        name, problem = text.username(username, self.settings.max_username_length)
        if problem:
            return await self.refuse(sid, "add user", problem)
        if self._queue_full(connection):
            return await self.refuse(sid, "add user", "too many events waiting; retry", retry=True)
        async with self._turn(connection):
            return await self._join(connection, name)

    async def _join(self, connection: Connection, name: str) -> Ack:
        sid, pid = connection.sid, connection.pid
        if connection.closed:
            return await self.refuse(sid, "add user", "disconnected; retry", retry=True)
        if connection.username is not None:
            if connection.username == name:  # a resend of the `add user` that was accepted
                with contextlib.suppress(Exception):
                    return {"ok": True, "numUsers": await self.presence.count()}
                return {"ok": True}
            return await self.refuse(sid, "add user", f"already joined as {connection.username!r}")
        try:
            claimed = await self._durable(
                lambda: self.presence.claim_name(name, pid, connection.previous_pid), connection
            )
            if not claimed:
                return await self.refuse(sid, "add user", f"the name {name!r} is taken: choose another one")
            await self._durable(lambda: self.sessions.save(pid, username=name, sid=sid), connection)
            num_users = await self._durable(lambda: self.presence.join(pid), connection)
            if connection.closed:  # left while this login waited: no "joined" that no "left" would follow
                await self._durable(lambda: self.presence.leave(pid))
                await self._durable(lambda: self.presence.release_name(name, pid))
                return await self.refuse(sid, "add user", "disconnected; retry", retry=True)
            await self.fanout.publish("user joined", {"username": name, "numUsers": num_users}, pid)
        except Unavailable as exc:
            return await self.refuse(sid, "add user", f"{exc}; retry", retry=True)
        except Rejected as exc:
            return await self.refuse(sid, "add user", f"could not store the login: {exc}")
        connection.username = name
        # the stream position rides along, so the client can recover even before any broadcast reached it
        await self.sio.emit("login", ({"numUsers": num_users}, self.fanout.last_id or "0-0"), to=sid)
        return {"ok": True, "numUsers": num_users}

    async def on_new_message(self, sid: str, message: Any = None, meta: Any = None, *extra: Any) -> Ack:
        """`new message` (text[, {"id": unique id}]): with an id, a resend of the same id is never broadcast twice;
        without one, only a resend across a recovered reconnection is recognised (same text as the last one)."""
        connection = self.connections.get(sid)
        if connection is None:
            return await self.refuse(sid, "new message", "send `add user` before `new message`")
        problem = text.check_text(message, "message", self.settings.max_message_length)
        if problem:
            return await self.refuse(sid, "new message", problem)
        message_id = meta.get("id") if isinstance(meta, dict) else None
        if message_id is not None and not (
            isinstance(message_id, str)
            and 0 < len(message_id) <= MAX_ID_LENGTH
            and text.check_text(message_id, "id", MAX_ID_LENGTH) is None
        ):
            return await self.refuse(
                sid, "new message", f"the message id must be a string of 1 to {MAX_ID_LENGTH} characters"
            )
        if self._queue_full(connection):
            return await self.refuse(
                sid,
                "new message",
                f"{self.settings.message_queue} messages already wait on this connection; retry",
                retry=True,
            )
        async with self._turn(connection):
            return await self._send(connection, message, message_id)

    async def _send(self, connection: Connection, message: str, message_id: str | None) -> Ack:
        sid, pid = connection.sid, connection.pid
        if connection.closed:
            return await self.refuse(sid, "new message", "disconnected; retry", retry=True)
        if connection.username is None:
            return await self.refuse(sid, "new message", "send `add user` before `new message`")
        if message_id and connection.previous_pid and not connection.inherited_ids:
            # a session that could not be recovered: the ids its predecessor had accepted still count
            connection.inherited_ids = True
            with contextlib.suppress(Exception):
                for old in await self.sessions.recent_ids(connection.previous_pid):
                    connection.recent_ids.add(old)
        mark = f"id:{message_id}" if message_id else fingerprint(message)
        if (message_id and message_id in connection.recent_ids) or (
            not message_id and mark == connection.last_fingerprint and connection.recovered_from
        ):
            self.duplicates_dropped += 1  # a retry of what this session had already accepted
            connection.recovered_from = ""
            return {"ok": True, "duplicate": True}
        wait = connection.messages.take()
        if wait:
            self.rate_limited += 1  # shaped, not refused: the message waits its turn
            while wait:
                await asyncio.sleep(wait)
                wait = connection.messages.take()
            if connection.closed:
                return await self.refuse(sid, "new message", "disconnected; retry", retry=True)

        username = connection.username

        def remember(pipe: Any) -> None:
            # the whole session, not just the mark: after Redis restarted empty this write recreates it, and a
            # session without its name would be recovered nameless; `sid` only if absent, so that a stale
            # connection never takes the session back from the one that recovered it
            self.sessions.save_in(pipe, pid, last=mark)
            self.sessions.restore_in(pipe, pid, username=username, sid=sid)
            if message_id:
                self.sessions.remember_in(pipe, pid, message_id)

        try:
            await self.fanout.publish(
                "new message",
                {"username": username, "message": message},
                pid,
                also=remember,
                uid=f"{pid}:{message_id}" if message_id else "",
                abandon=lambda: connection.closed,
            )
        except Unavailable as exc:
            return await self.refuse(sid, "new message", f"{exc}; retry", retry=True)
        except Rejected as exc:
            return await self.refuse(sid, "new message", f"the message could not be stored: {exc}")
        connection.recovered_from = ""
        connection.last_fingerprint = mark
        if message_id:
            connection.recent_ids.add(message_id)
        self.messages_accepted += 1
        return {"ok": True}

    async def on_typing(self, sid: str, *args: Any) -> Ack | None:
        return await self._typing(sid, "typing")

    async def on_stop_typing(self, sid: str, *args: Any) -> Ack | None:
        return await self._typing(sid, "stop typing")

    async def _typing(self, sid: str, event: str) -> Ack | None:
        """Typing notices are fleeting: refused over their rate, tried once, never waited for."""
        connection = self.connections.get(sid)
        if connection is None or connection.username is None:
            return await self.refuse(sid, event, f"send `add user` before `{event}`")
        wait = connection.typing.take()
        if wait:
            self.rate_limited += 1
            return await self.refuse(sid, event, f"rate limited: retry in {wait:.1f} s")
        try:
            await self.fanout.publish(event, {"username": connection.username}, connection.pid, wait=False)
        except Unavailable:
            return (
                None  # not worth a retry, nor an error on the user's screen: the next keystroke sends another
            )
        except Rejected as exc:
            return await self.refuse(sid, event, str(exc))
        return None

    async def on_unknown(self, event: str, sid: str, *args: Any) -> Ack:
        return await self.refuse(sid, event, f"unknown event {event!r}")

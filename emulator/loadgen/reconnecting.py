"""A chat user that rides out faults the way the official JavaScript client does, spoken over aiohttp.

`ReconnectingClient.run()` keeps one user connected until `close()`:

- WebSocket to the given URL with its own cookie jar, so the load balancer's `AWSALB` stickiness cookie goes back
  on every reconnection, as a browser's does (`sticky` is the value the load balancer set last: which target);
- the Socket.IO CONNECT carries `{pid, offset}` once the client has them (connection-state recovery, protocol v5):
  a server that restores the session answers with the same `pid` and replays what was missed; otherwise the
  session is a fresh one and the client sends `add user` again;
- the read loop answers pings, matches acks (`43<id>[...]`) to `call()`s, keeps the offset that ends every
  broadcast event, and hands each `new message` text to the `Listener`;
- a connection that ends — closed, reset, refused (the ALB's 502), a CONNECT_ERROR, or silent for longer than
  pingInterval + pingTimeout (the Engine.IO rule) — is retried after socket.io-client's randomised exponential
  backoff (1 s doubling up to 5 s, ±50 %), until `close()`.

`call()` fails fast with `NotConnected` while there is no session, and with `TimeoutError` when the ack does not
come in time: the caller decides whether to send again (at-least-once, like the JS client's `ackTimeout` +
`retries`). Clock seam: `now()` and the backoff / ack-timeout sleeps come from a `Clock` (a `WallClock` in practice:
the workers run in real time); the I/O deadlines (connect, heartbeat silence) are real time, as for any socket.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from yarl import URL

from emulator.clock import Clock, WallClock
from emulator.loadgen import protocol as p
from emulator.loadgen.client import engine_url
from emulator.tasks import TaskSet, wait_or_timeout

STICKY_COOKIE = "AWSALB"
LOGIN_ATTEMPTS = 5


class NotConnected(ConnectionError):
    """No session right now (connecting, or the connection just ended)."""


class Listener(Protocol):
    """What a `ReconnectingClient` reports; `at` is the client's clock time."""

    def session_started(self, client: ReconnectingClient, at: float, recovered: bool) -> None: ...

    def connection_lost(self, client: ReconnectingClient, at: float, reason: str) -> None: ...

    def message(self, client: ReconnectingClient, at: float, text: str) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """socket.io-client's reconnection delay: `reconnectionDelay` doubling up to `reconnectionDelayMax`, ±jitter."""

    initial_s: float = 1.0
    max_s: float = 5.0
    jitter: float = 0.5

    def delay(self, failures: int, rand: float) -> float:
        """Seconds to wait after `failures` failed attempts in a row (0: the first retry); `rand` in [0, 1)."""
        base = min(self.max_s, self.initial_s * 2.0 ** min(failures, 30))
        return min(self.max_s, max(0.0, base * (1.0 + self.jitter * (2.0 * rand - 1.0))))


class ReconnectingClient:
    """One chat user that stays connected (reconnecting, recovering) until `close()`."""

    def __init__(
        self,
        name: str,
        url: str,
        listener: Listener,
        *,
        username: str | None = None,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        connect_timeout: float = 10.0,
        login_timeout: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name  # this client's label for whoever drives it
        self.username = username or name  # its chat name (changed when the server says it is taken)
        self._chosen_name = self.username
        self.url = url.rstrip("/")
        self.listener = listener
        self.clock: Clock = clock if clock is not None else WallClock()
        self.backoff = backoff if backoff is not None else Backoff()
        self.connect_timeout = connect_timeout
        self.login_timeout = login_timeout
        self.rng = rng if rng is not None else random.Random()
        self.pid: str | None = None  # the private session id of the session this client holds (after login)
        self.offset: str | None = None  # the stream offset of the last broadcast received
        self.sticky: str | None = None  # the AWSALB value the load balancer set on the latest connection
        self.attempts = 0  # WebSocket connections tried
        self.sessions = 0  # sessions established (the first, fresh ones after it, recovered ones)
        self.recovered = 0
        self.not_recovered = 0  # reconnections that got a fresh session instead of their old one
        self.lost = 0
        self.server_errors = 0
        self.renamed = 0  # logins under another name because the name was taken
        self.last_error = ""
        self._connected = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._acks: dict[int, asyncio.Future[list[Any]]] = {}
        self._ack_ids = itertools.count(1)
        self._closing = False
        self._stopped = asyncio.Event()
        self._tasks = TaskSet()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    # ---- the connection loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, and reconnect after every loss, until `close()`."""
        # a fresh TCP connection for every attempt, as browsers open one for every WebSocket handshake (so the load
        # balancer sees each reconnection); cookies kept, as a browser keeps them (127.0.0.1 needs `unsafe`)
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True), cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        failures = 0
        try:
            while not self._closing:
                if await self._connection(http):
                    failures = 0
                if self._closing:
                    break
                delay = self.backoff.delay(failures, self.rng.random())
                failures += 1
                stopped = asyncio.ensure_future(self._stopped.wait())
                try:
                    await wait_or_timeout(stopped, self.clock.sleep(delay))  # close() cuts the wait short
                finally:
                    stopped.cancel()
        finally:
            await http.close()
            await self._tasks.cancel_all()

    async def close(self) -> None:
        """Stop reconnecting and close the connection (the server sees a dropped connection)."""
        self._closing = True
        self._stopped.set()
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    async def _connection(self, http: aiohttp.ClientSession) -> bool:
        """One WebSocket connection, from the upgrade to its end; True when a session was established on it."""
        self.attempts += 1
        established, reason = False, ""
        ws: aiohttp.ClientWebSocketResponse | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                ws = await http.ws_connect(engine_url(self.url, "websocket"), autoping=False, max_msg_size=0)
                self._ws = ws
                self.sticky = self._sticky_cookie(http)
                handshake = p.parse_open(await self._next_text(ws))
                auth = {"pid": self.pid, "offset": self.offset} if self.pid and self.offset else None
                await ws.send_str(p.connect(auth))
                answer = p.parse_connect(await self._connect_answer(ws))
            silence = (handshake.ping_interval_ms + handshake.ping_timeout_ms) / 1000.0
            reader = self._tasks.spawn(self._read(ws, silence), f"client-read-{self.username}")
            try:
                recovered = auth is not None and answer.get("pid") == self.pid
                if not recovered:
                    await self._login(answer.get("pid"))
                established = True
                self._established(recovered)
                reason = await reader
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
        except (OSError, aiohttp.ClientError, TimeoutError, p.ProtocolError) as exc:
            reason = describe(exc)
        finally:
            self._ws = None
            self._connected.clear()
            self._fail_acks()
            if ws is not None and not ws.closed:
                await ws.close()
        self.last_error = reason
        if established:
            self.lost += 1
            self.listener.connection_lost(self, self.clock.now(), reason)
        return established

    def _established(self, recovered: bool) -> None:
        if self.sessions:
            if recovered:
                self.recovered += 1
            else:
                self.not_recovered += 1
        self.sessions += 1
        self._connected.set()
        self.listener.session_started(self, self.clock.now(), recovered)

    async def _login(self, pid: Any) -> None:
        """`add user` on a fresh session, as a user would: again after a retryable refusal, under another name
        when the server says the name is taken (the previous session may hold it until its presence expires).
        The session's pid is kept for recovery only once it is logged in."""
        self.pid = None
        for attempt in range(LOGIN_ATTEMPTS):
            ack = await self.call("add user", self.username, timeout=self.login_timeout)
            answer = ack[0] if ack and isinstance(ack[0], dict) else {}
            if answer.get("ok") is True:
                self.pid = pid if isinstance(pid, str) else None
                return
            error = str(answer.get("error", ack))
            if answer.get("retry") is True:
                await self.clock.sleep(self.backoff.delay(attempt, self.rng.random()))
            elif "taken" in error:
                self.renamed += 1
                self.username = f"{self._chosen_name}~{self.renamed}"
            else:
                raise ConnectionRefusedError(f"login refused: {error}")
        raise ConnectionRefusedError(f"login refused {LOGIN_ATTEMPTS} times")

    def _sticky_cookie(self, http: aiohttp.ClientSession) -> str | None:
        morsel = http.cookie_jar.filter_cookies(URL(self.url)).get(STICKY_COOKIE)
        return morsel.value if morsel is not None else None

    async def _next_text(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        msg = await ws.receive()
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionResetError(f"connection ended during the handshake ({msg.type.name})")
        data: str = msg.data
        return data

    async def _connect_answer(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        while True:
            packet = await self._next_text(ws)
            if packet == p.PING:
                await ws.send_str(p.PONG)
            elif packet.startswith(("40", "44")):
                return packet

    # ---- reading ------------------------------------------------------------------------------------

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, silence: float) -> str:
        """Handle packets until the connection ends; the reason it ended."""
        try:
            while True:
                msg = await ws.receive(timeout=silence)
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    return f"connection closed ({msg.type.name}, code {ws.close_code})"
                ended = await self._handle(ws, msg.data)
                if ended:
                    return ended
        except TimeoutError:
            return f"no ping from the server for {silence:g} s"
        except (OSError, aiohttp.ClientError, p.ProtocolError) as exc:
            return describe(exc)

    async def _handle(self, ws: aiohttp.ClientWebSocketResponse, packet: str) -> str | None:
        if packet == p.PING:
            await ws.send_str(p.PONG)
        elif packet.startswith("42"):
            self._event(p.event_data(packet))
        elif packet.startswith("43"):
            ack = p.parse_ack(packet)
            if ack is not None:
                future = self._acks.pop(ack[0], None)
                if future is not None and not future.done():
                    future.set_result(ack[1])
        elif packet.startswith("41"):
            return "disconnected by the server (Socket.IO DISCONNECT)"
        elif packet.startswith(p.CLOSE):
            return "closed by the server (Engine.IO CLOSE)"
        return None

    def _event(self, data: list[Any]) -> None:
        """One event `[name, args..., offset]`: keep the offset, report a chat message."""
        if len(data) >= 3 and isinstance(data[-1], str):
            self.offset = data[-1]
        name = data[0]
        if name == "new message" and len(data) >= 2 and isinstance(data[1], dict):
            text = data[1].get("message")
            if isinstance(text, str):
                self.listener.message(self, self.clock.now(), text)
        elif name == "error":
            self.server_errors += 1

    # ---- sending ------------------------------------------------------------------------------------

    async def call(self, event: str, *args: Any, timeout: float) -> list[Any]:
        """Emit `event` with an ack id; the ack's arguments. NotConnected / TimeoutError otherwise."""
        ws = self._ws
        if ws is None or ws.closed:
            raise NotConnected(f"{self.username}: not connected")
        ack_id = next(self._ack_ids)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        try:
            try:
                await ws.send_str(p.event_with_ack(ack_id, event, *args))
            except (ConnectionError, aiohttp.ClientError) as exc:
                raise NotConnected(f"{self.username}: send failed: {exc}") from exc
            if not await wait_or_timeout(future, self.clock.sleep(timeout)):
                raise TimeoutError(f"no ack for {event!r} within {timeout:g} s")
            return future.result()  # raises NotConnected when the connection ended first
        finally:
            self._acks.pop(ack_id, None)

    def _fail_acks(self) -> None:
        for future in self._acks.values():
            if not future.done():
                future.set_exception(NotConnected(f"{self.username}: connection lost before the ack"))
        self._acks.clear()


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"WebSocket upgrade refused: HTTP {exc.status}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

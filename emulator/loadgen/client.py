"""One chat client over aiohttp: Engine.IO v4 / Socket.IO v5 spoken directly, no python-socketio.

`Client.connect()` opens the connection (WebSocket directly, or long-polling first and then the
WebSocket upgrade, with this client's own cookie jar so ALB stickiness holds), sends `add user` and
returns once `login` arrived. From then on `read_loop()` answers pings and hands every `new message`
broadcast to the `Tally`, the only per-delivery work: a prefix test, two `str.find`s and a split.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from emulator.loadgen import protocol as p
from emulator.loadgen.stats import ProcessResult


def now_us() -> int:
    """CLOCK_MONOTONIC in µs: one clock for every process of this machine, so sender and receiver agree."""
    return time.monotonic_ns() // 1000


def engine_url(base: str, transport: str, sid: str | None = None) -> str:
    parts = urlsplit(base)
    scheme = parts.scheme
    if transport == "websocket":
        scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    query = f"EIO=4&transport={transport}" + (f"&sid={sid}" if sid else "")
    return urlunsplit((scheme, parts.netloc, p.EIO_PATH, query, ""))


@dataclass
class Tally:
    """Counters every client of one process adds to; knows the run id and the measured window."""

    run: str
    result: ProcessResult = field(default_factory=ProcessResult)
    window_start_us: int = 1 << 62
    window_end_us: int = 1 << 62

    def on_new_message(self, client: Client, packet: str) -> None:
        received_us = now_us()
        result = self.result
        result.received_total += 1
        text = p.message_text(packet)
        parsed = p.parse_mark(text, self.run) if text is not None else None
        if parsed is None:
            result.other_events += 1
            return
        sender, seq, sent_us = parsed
        last = client.last_seq.get(sender, -1)
        if seq == last:
            result.duplicates += 1
            return
        if seq < last:
            result.out_of_order += 1
        else:
            client.last_seq[sender] = seq
        if self.window_start_us <= sent_us < self.window_end_us:
            result.received_measured += 1
            result.latency_ms.append((received_us - sent_us) / 1000.0)


class Client:
    """One logged-in chat user of the load generator."""

    def __init__(
        self, index: int, url: str, tally: Tally, transport: str = "websocket", name_prefix: str = "load"
    ) -> None:
        self.index = index
        self.url = url
        self.tally = tally
        self.transport = transport
        self.username = f"{name_prefix}{index}"
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.last_seq: dict[int, int] = {}
        self.closing = False
        self.connected_ms: float | None = None
        self.handshake: p.Handshake | None = None  # the server's open packet (its ping interval)
        self._logged_in: asyncio.Future[None] | None = None
        self._t0 = 0.0

    # ---- connecting ---------------------------------------------------------------------------------

    async def connect(self, session: aiohttp.ClientSession, timeout: float) -> float:
        """Connect and log in; the connect + login time in ms. Raises on failure or timeout."""
        self._t0 = time.perf_counter()
        self._logged_in = asyncio.get_running_loop().create_future()
        async with asyncio.timeout(timeout):
            if self.transport == "polling":
                await self._connect_polling(session)
            else:
                self.ws = await session.ws_connect(engine_url(self.url, "websocket"), autoping=False)
            return await self._wait_login()

    async def _wait_login(self) -> float:
        """Read (answering the handshake and pings) until `login` or a refusal; only these reads settle it."""
        logged_in = self._logged_in
        assert logged_in is not None
        await self._handshake_reads(logged_in)  # raises what ended the reads
        logged_in.result()  # raises the server's refusal of `add user`
        return (time.perf_counter() - self._t0) * 1000.0

    async def _handshake_reads(self, logged_in: asyncio.Future[None]) -> None:
        assert self.ws is not None
        while not logged_in.done():
            msg = await self.ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"connection ended during login ({msg.type.name})")
            await self._control(msg.data)

    async def _connect_polling(self, session: aiohttp.ClientSession) -> None:
        url = engine_url(self.url, "polling")
        async with session.get(url) as resp:
            resp.raise_for_status()
            handshake = self.handshake = p.parse_open(p.split_payload(await resp.text())[0])
        sid_url = engine_url(self.url, "polling", handshake.sid)
        async with session.post(sid_url, data="40") as resp:
            resp.raise_for_status()
        while self.connected_ms is None:
            async with session.get(sid_url) as resp:
                resp.raise_for_status()
                body = await resp.text()
            for packet in p.split_payload(body):
                if packet == p.PING:
                    async with session.post(sid_url, data=p.PONG) as pong:
                        pong.raise_for_status()
                elif packet.startswith("40"):
                    self.connected_ms = (time.perf_counter() - self._t0) * 1000.0
                elif packet.startswith(("41", "44", p.CLOSE)):
                    raise ConnectionError(f"refused while polling: {packet[:80]}")
        ws = await session.ws_connect(engine_url(self.url, "websocket", handshake.sid), autoping=False)
        await ws.send_str("2probe")
        answer = await ws.receive()
        if answer.type is not aiohttp.WSMsgType.TEXT or answer.data != "3probe":
            await ws.close()
            raise ConnectionError(f"upgrade probe answered {answer.data!r}")
        await ws.send_str(p.UPGRADE)
        self.ws = ws
        await ws.send_str(p.event("add user", self.username))

    async def _control(self, packet: str) -> None:
        """Everything but broadcasts: handshake, pings, connect, login, errors."""
        ws = self.ws
        assert ws is not None
        if packet == p.PING:
            await ws.send_str(p.PONG)
        elif packet.startswith(p.OPEN):
            self.handshake = p.parse_open(packet)
            await ws.send_str("40")
        elif packet.startswith("40"):
            self.connected_ms = (time.perf_counter() - self._t0) * 1000.0
            await ws.send_str(p.event("add user", self.username))
        elif packet.startswith('42["login"'):
            if self._logged_in is not None and not self._logged_in.done():
                self._logged_in.set_result(None)
            self.tally.result.other_events += 1
        elif packet.startswith('42["error"'):
            self.tally.result.server_errors += 1
            refusal = f"{self.username}: server error {p.event_args(packet)[0]!r}"
            if self._logged_in is not None and not self._logged_in.done():
                self._logged_in.set_exception(
                    ConnectionError(refusal)
                )  # login refused: fail now, not at the timeout
            else:
                self.tally.result.error(refusal)
        elif packet.startswith(("41", "44")):
            raise ConnectionError(f"{self.username}: Socket.IO refused or disconnected: {packet[:80]}")
        elif packet.startswith("4"):
            self.tally.result.other_events += 1

    # ---- running ------------------------------------------------------------------------------------

    async def read_loop(self) -> None:
        """Receive until the connection ends; an end before `close()` is counted as a disconnect."""
        ws = self.ws
        assert ws is not None
        on_new_message = self.tally.on_new_message
        prefix = p.NEW_MESSAGE_PREFIX
        text_type = aiohttp.WSMsgType.TEXT
        try:
            while True:
                msg = await ws.receive()
                if msg.type is not text_type:
                    break
                data: str = msg.data
                if data.startswith(prefix):
                    on_new_message(self, data)
                else:
                    await self._control(data)
        except (TimeoutError, ConnectionError, aiohttp.ClientError) as exc:
            if not self.closing:
                self.tally.result.error(f"{self.username}: {type(exc).__name__}: {exc}")
        if not self.closing:
            self.tally.result.disconnects += 1
            self.tally.result.error(
                f"{self.username}: disconnected by the server (close code {ws.close_code})"
            )

    async def send(self, packet: str) -> bool:
        ws = self.ws
        if ws is None or ws.closed:
            return False
        try:
            await ws.send_str(packet)
        except (ConnectionError, aiohttp.ClientError) as exc:
            self.tally.result.error(f"{self.username}: send failed: {exc}")
            return False
        return True

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "login timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

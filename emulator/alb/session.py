"""One client connection to the load balancer: HTTP/1.1 keep-alive, each request routed on its own.

For each request: read its head (h11), refuse what the ALB refuses (`http.refusal`: 400), ask the router
for a target, reuse this connection's upstream when it goes to the same target (else open a new one),
and stream the request body to it as it arrives: memory stays bounded (about one `READ_SIZE` read and
the socket buffers) whatever the body's size, and, like the ALB for instance and IP targets, there is no
body size limit. The response streams back the same way, with the stickiness cookies. A `101` from the
target on a WebSocket handshake turns the connection into a byte tunnel to that target. A refused
connection, or a target that breaks before answering, gets the ALB's 502; no target, 503. A request
framed by both `Content-Length` and `Transfer-Encoding` is forwarded by the latter alone, and both
connections close after its response (the ALB's default `defensive` desync mitigation). The request
head has a deadline, enforced by the listener (`LoadBalancer.header_timeout_seconds`): `head_started`
says since when one is due. `last_active` and `head_started` are read on the listener's
`connection_clock`, real time whatever `--time-scale` is.

A kept-alive upstream that turns out stale is retried once on a fresh connection, when the whole
request was still in hand (its body had arrived with its head); a body already streamed cannot be sent
twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import h11

from emulator.alb import http
from emulator.alb.router import Decision, Router
from emulator.alb.target_group import TargetGroup, TargetState
from emulator.alb.tunnel import tunnel
from emulator.alb.upstream import Upstream
from emulator.clock import Clock

log = logging.getLogger("emulator.alb")
LINGER_BYTES = 8 * 1024 * 1024  # what the client may still send after an early answer, discarded


class TargetBroke(Exception):
    """The target refused, reset or closed the connection before its response began."""


class TargetStoppedReading(Exception):
    """The target's connection failed while the request body was being forwarded."""


@dataclass(frozen=True)
class SessionConfig:
    target_group: TargetGroup
    router: Router
    connection_clock: Clock  # the idle and header timeouts' clock: real time, never the emulated Clock
    wall_time: Callable[[], float]
    lb_port: int
    drop_cookies: bool


class ClientSession:
    def __init__(
        self, config: SessionConfig, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str
    ) -> None:
        self.config = config
        self.reader, self.writer = reader, writer
        self.name = name
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=http.MAX_HEAD_SIZE)
        self.upstream: Upstream | None = None
        self.busy = False
        self.closed = False
        self.close_after = False  # this request's framing was ambiguous: close both connections after it
        self.last_active = config.connection_clock.now()
        # When the request head now awaited became due: at accept for the first, at its first byte for the
        # next ones on a kept-alive connection (silence between requests is the idle timeout's business);
        # None while a request is being handled.
        self.head_started: float | None = self.last_active
        peer = writer.get_extra_info("peername")
        self.client_ip = str(peer[0]) if peer else "127.0.0.1"

    # -- lifecycle ----------------------------------------------------------------------------
    async def serve(self) -> None:
        try:
            while await self._serve_one():
                self.conn.start_next_cycle()
            await self._linger()
        except h11.RemoteProtocolError as exc:
            log.debug("%s: malformed request: %r", self.name, exc)
            await self._bad_request()
        except ConnectionError as exc:
            log.debug("%s: client connection ended: %r", self.name, exc)
        finally:
            self.abort()

    async def _serve_one(self) -> bool:
        """Handle one request; True when the connection can carry another."""
        event = await self._client_event()
        if not isinstance(event, h11.Request):
            return False
        self.head_started = None
        self.busy = True
        self.close_after = False
        try:
            upgraded = await self._handle(event)
        finally:
            self.busy = False
        return not upgraded and self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE

    async def _linger(self) -> None:
        """When the answer went out before the request body was all read (an early answer, a 502 / 503
        mid-upload): half-close, and discard what the client still sends, up to `LINGER_BYTES`, so that
        closing with unread data (a TCP reset) does not destroy the answer before the client has read it.
        The idle timeout bounds how long this lasts."""
        if self.closed or self.conn.their_state is not h11.SEND_BODY:
            return
        with contextlib.suppress(OSError, RuntimeError):
            await self.writer.drain()
            self.writer.write_eof()
            discarded = 0
            while discarded < LINGER_BYTES:
                data = await self.reader.read(http.READ_SIZE)
                if not data:
                    return
                discarded += len(data)

    async def _client_event(self) -> h11.Event | type[h11.PAUSED]:
        """The client's next h11 event, reading as needed."""
        while True:
            event = self.conn.next_event()
            if event is h11.PAUSED or isinstance(event, h11.Event):
                return event
            await self._receive()

    async def _receive(self) -> None:
        """One read from the client into h11 (after a `100 Continue` when the client awaits one)."""
        if self.conn.client_is_waiting_for_100_continue:
            http.send(self.conn, self.writer, h11.InformationalResponse(status_code=100, headers=[]))
        data = await self.reader.read(http.READ_SIZE)
        self.touch()
        if data and self.head_started is None and self.conn.their_state is h11.IDLE:
            self.head_started = self.last_active  # the first byte of the next request head
        self.conn.receive_data(data)

    def touch(self) -> None:
        self.last_active = self.config.connection_clock.now()

    def head_timed_out(self) -> None:
        """No complete request head within the header timeout: the ALB's 408 when part of one came (a
        slowloris), then close; a connection that sent nothing is closed without a word."""
        if self.closed:
            return
        partial, _ = self.conn.trailing_data
        if partial and self.conn.our_state is h11.IDLE:
            with contextlib.suppress(RuntimeError):
                self.writer.write(http.error_bytes(408))
        self.abort()

    def close_target(self, target_id: str, *, in_flight_too: bool) -> None:
        """Drop an idle kept-alive connection to the target; with `in_flight_too` (its deregistration
        delay ended) also one carrying a request or a WebSocket, and the client's connection with it."""
        if self.upstream is None or self.upstream.target_id != target_id:
            return
        if not self.busy:
            self.upstream.close()
            self.upstream = None
        elif in_flight_too:
            self.abort()

    def _live_upstream(self) -> Upstream:
        if self.upstream is None:
            raise ConnectionAbortedError(f"{self.name}: connection to the target was closed by the proxy")
        return self.upstream

    def abort(self) -> None:
        self.closed = True
        if self.upstream is not None:
            self.upstream.abort()
            self.upstream = None
        with contextlib.suppress(RuntimeError):
            self.writer.close()

    # -- one request --------------------------------------------------------------------------
    async def _handle(self, request: h11.Request) -> bool:
        """Forward one request; True when the connection became a tunnel (and has now ended)."""
        status = http.refusal(request)
        if status is not None:
            await self._error(status)
            return False
        self.close_after = http.ambiguous_framing(request.headers)
        body, complete = self._buffered_body()
        cookie = None if self.config.drop_cookies else http.header(request.headers, b"cookie")
        tg = self.config.target_group
        decision = self.config.router.choose(tg.describe(), cookie, self.config.wall_time())
        if decision is None:
            await self._error(503)
            return False
        upgrade = http.is_upgrade(request.headers) and not self.close_after
        target_id = decision.target.target_id
        tg.request_started(target_id)  # in flight until the response ends (a WebSocket is a connection)
        try:
            response = await self._exchange(decision, request, body, complete, upgrade)
            headers = self._response_headers(decision, response, upgrade)
            if not (upgrade and response.status_code == 101):
                head = h11.Response(status_code=response.status_code, headers=headers, reason=response.reason)
                await self._relay_body(head)
                return False
        except TargetBroke as exc:
            log.info("%s: 502 from %s: %s", self.name, target_id, exc)
            await self._error(502)
            return False
        finally:
            tg.request_finished(target_id)
        await self._tunnel(headers)
        return True

    def _buffered_body(self) -> tuple[list[h11.Data], bool]:
        """The request body that has already arrived with its head (no socket read), and whether that is all
        of it: a request whole in hand can be answered with keep-alive, and replayed on a stale upstream."""
        chunks: list[h11.Data] = []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                return chunks, False
            if isinstance(event, h11.Data):
                chunks.append(event)
            elif isinstance(event, h11.EndOfMessage):
                return chunks, True
            else:
                raise h11.RemoteProtocolError(f"unexpected {event!r} in a request body")

    async def _stream_body(self, upstream: Upstream) -> None:
        """Forward the rest of the request body as it arrives: what one read brought goes to the target, which
        must take it (back-pressure) before the next read. The client's errors propagate; the target's become
        `TargetStoppedReading` (it may have answered already)."""
        while True:
            event = self.conn.next_event()
            try:
                if event is h11.NEED_DATA:
                    await upstream.writer.drain()
                elif isinstance(event, h11.Data):
                    http.send(upstream.conn, upstream.writer, event)
                    continue
                elif isinstance(event, h11.EndOfMessage):
                    http.send(upstream.conn, upstream.writer, h11.EndOfMessage())  # trailers stop here
                    await upstream.writer.drain()
                    return
                else:
                    raise h11.RemoteProtocolError(f"unexpected {event!r} in a request body")
            except OSError as exc:
                raise TargetStoppedReading(repr(exc)) from exc
            await self._receive()

    async def _exchange(
        self,
        decision: Decision,
        request: h11.Request,
        body: list[h11.Data],
        complete: bool,
        upgrade: bool,
    ) -> h11.Response | h11.InformationalResponse:
        """Send the request to the target and wait for its response head; retry once on a stale connection
        when the request was whole in hand."""
        reused = await self._upstream_for(decision)
        try:
            return await self._send_and_receive(request, body, complete, upgrade)
        except TargetBroke:
            if not (reused and complete):
                raise
        log.debug(
            "%s: kept-alive connection to %s was stale; reconnecting", self.name, decision.target.target_id
        )
        await self._upstream_for(decision)
        return await self._send_and_receive(request, body, complete, upgrade)

    async def _upstream_for(self, decision: Decision) -> bool:
        """Make `self.upstream` a usable connection to the chosen target; True when it was reused."""
        target = decision.target
        if self.upstream is not None:
            if self.upstream.target_id == target.target_id and self.upstream.reusable:
                return True
            self.upstream.close()
            self.upstream = None
        try:
            self.upstream = await Upstream.connect(
                self.config.target_group, target.target_id, target.host, target.port
            )
        except OSError as exc:
            raise TargetBroke(f"connect to {target.host}:{target.port} failed: {exc}") from exc
        return False

    async def _send_and_receive(
        self, request: h11.Request, body: list[h11.Data], complete: bool, upgrade: bool
    ) -> h11.Response | h11.InformationalResponse:
        upstream = self._live_upstream()
        cfg = self.config
        headers = http.request_headers(
            request, self.client_ip, cfg.lb_port, drop_cookies=cfg.drop_cookies, upgrade=upgrade
        )
        forwarded = h11.Request(method=request.method, target=request.target, headers=headers)
        try:
            end = [h11.EndOfMessage()] if complete else []
            http.send(upstream.conn, upstream.writer, forwarded, *body, *end)
            await upstream.writer.drain()
        except (OSError, h11.ProtocolError) as exc:
            upstream.abort()
            self.upstream = None
            raise TargetBroke(repr(exc)) from exc
        if complete:
            return await self._response_head(upstream)
        return await self._stream_and_receive(upstream)

    async def _stream_and_receive(self, upstream: Upstream) -> h11.Response | h11.InformationalResponse:
        """Stream the request body while watching for the response: a target may answer before it has read
        the whole body (a 413, a 401), and that answer goes to the client; the rest of the body does not."""
        loop = asyncio.get_running_loop()
        answer = loop.create_task(self._response_head(upstream), name=f"{self.name}-response-head")
        body = loop.create_task(self._stream_body(upstream), name=f"{self.name}-request-body")
        try:
            await asyncio.wait({answer, body}, return_when=asyncio.FIRST_COMPLETED)
            if not answer.done():
                try:
                    await body  # the client's errors propagate
                except TargetStoppedReading as exc:
                    log.debug("%s: target stopped reading the request body: %s", self.name, exc)
            return await answer
        finally:
            for task in (answer, body):
                task.cancel()
            await asyncio.gather(answer, body, return_exceptions=True)

    async def _response_head(self, upstream: Upstream) -> h11.Response | h11.InformationalResponse:
        try:
            while True:
                event = await http.next_event(upstream.conn, upstream.reader, self.touch)
                if isinstance(event, h11.InformationalResponse) and event.status_code != 101:
                    continue  # a 100 Continue meant for us, not the client
                if isinstance(event, h11.Response | h11.InformationalResponse):
                    return event
                raise TargetBroke(f"no response: {event!r}")
        except (OSError, h11.ProtocolError) as exc:
            upstream.abort()
            if self.upstream is upstream:
                self.upstream = None
            raise TargetBroke(repr(exc)) from exc

    def _response_headers(
        self, decision: Decision, response: h11.Response | h11.InformationalResponse, upgrade: bool
    ) -> http.Headers:
        return http.response_headers(
            list(response.headers),
            decision.set_cookies,
            drop_cookies=self.config.drop_cookies,
            upgrade=upgrade and response.status_code == 101,
            close=self._closing_after_response(),
        )

    def _closing_after_response(self) -> bool:
        """An ambiguously framed request, or an answer before the request body was all read."""
        return self.close_after or self.conn.their_state is h11.SEND_BODY

    async def _relay_body(self, head: h11.Response) -> None:
        """Stream the response body; what is already buffered goes out in one write with the head."""
        upstream = self._live_upstream()
        pending: list[h11.Event] = [head]
        while True:
            try:
                event = upstream.conn.next_event()
                if event is h11.NEED_DATA:
                    http.send(self.conn, self.writer, *pending)
                    pending.clear()
                    await self.writer.drain()
                    upstream.conn.receive_data(await upstream.reader.read(http.READ_SIZE))
                    self.touch()
                    continue
            except (OSError, h11.ProtocolError) as exc:
                raise ConnectionResetError(f"target broke mid-response: {exc!r}") from exc
            if isinstance(event, h11.Data):
                pending.append(event)
            elif isinstance(event, h11.EndOfMessage):
                http.send(self.conn, self.writer, *pending, h11.EndOfMessage())
                await self.writer.drain()
                upstream.finish_cycle()
                if self.close_after:
                    upstream.close()  # an ambiguously framed request: neither connection carries another
                elif self.config.target_group.state(upstream.target_id) is TargetState.DRAINING:
                    upstream.close()  # the last request it gets on this connection
                if not upstream.reusable:
                    self.upstream = None
                return
            else:
                raise ConnectionResetError(f"target broke mid-response: {event!r}")

    async def _tunnel(self, headers: http.Headers) -> None:
        upstream = self._live_upstream()
        http.send(self.conn, self.writer, h11.InformationalResponse(status_code=101, headers=headers))
        client_rest, _ = self.conn.trailing_data
        target_rest, _ = upstream.conn.trailing_data
        if client_rest:
            upstream.writer.write(client_rest)
        if target_rest:
            self.writer.write(target_rest)
        await tunnel(
            (self.reader, self.writer), (upstream.reader, upstream.writer), f"{self.name}-ws", self.touch
        )

    async def _bad_request(self) -> None:
        """Answer a request h11 could not parse with the ALB's 400, when no response has begun."""
        if not self.closed and self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            with contextlib.suppress(ConnectionError, h11.LocalProtocolError):
                await self._error(400)

    async def _error(self, status: int) -> None:
        response, body = http.error_response(status, close=self._closing_after_response())
        http.send(self.conn, self.writer, response, body, h11.EndOfMessage())
        await self.writer.drain()

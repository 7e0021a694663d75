"""One client connection to the load balancer: HTTP/1.1 keep-alive, each request routed on its own.

For each request: read it whole (h11), ask the router for a target, reuse this connection's upstream
when it goes to the same target (else open a new one), forward, and stream the response back with
the stickiness cookies. A `101` from the target turns the connection into a byte tunnel to that target.
A refused connection, or a target that breaks before answering, gets the ALB's 502; no target, 503.
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


class TargetBroke(Exception):
    """The target refused, reset or closed the connection before its response began."""


@dataclass(frozen=True)
class SessionConfig:
    target_group: TargetGroup
    router: Router
    clock: Clock
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
        self.conn = h11.Connection(h11.SERVER)
        self.upstream: Upstream | None = None
        self.busy = False
        self.last_active = config.clock.now()
        peer = writer.get_extra_info("peername")
        self.client_ip = str(peer[0]) if peer else "127.0.0.1"

    # -- lifecycle ----------------------------------------------------------------------------
    async def serve(self) -> None:
        try:
            while await self._serve_one():
                self.conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            log.debug("%s: malformed request: %r", self.name, exc)
            await self._bad_request()
        except ConnectionError as exc:
            log.debug("%s: client connection ended: %r", self.name, exc)
        finally:
            self.abort()

    async def _serve_one(self) -> bool:
        """Handle one request; True when the connection can carry another."""
        event = await http.next_event(self.conn, self.reader, self.touch)
        if not isinstance(event, h11.Request):
            return False
        self.busy = True
        try:
            upgraded = await self._handle(event)
        finally:
            self.busy = False
        return not upgraded and self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE

    def touch(self) -> None:
        self.last_active = self.config.clock.now()

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
        if self.upstream is not None:
            self.upstream.abort()
            self.upstream = None
        with contextlib.suppress(RuntimeError):
            self.writer.close()

    # -- one request --------------------------------------------------------------------------
    async def _handle(self, request: h11.Request) -> bool:
        """Forward one request; True when the connection became a tunnel (and has now ended)."""
        body = await self._read_body()
        cookie = None if self.config.drop_cookies else http.header(request.headers, b"cookie")
        tg = self.config.target_group
        decision = self.config.router.choose(tg.describe(), cookie, self.config.wall_time())
        if decision is None:
            await self._error(503)
            return False
        upgrade = http.is_upgrade(request.headers)
        target_id = decision.target.target_id
        tg.request_started(target_id)  # in flight until the response ends (a WebSocket is a connection)
        try:
            response = await self._exchange(decision, request, body, upgrade)
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

    async def _read_body(self) -> list[bytes]:
        chunks: list[bytes] = []
        while True:
            if self.conn.client_is_waiting_for_100_continue:
                http.send(self.conn, self.writer, h11.InformationalResponse(status_code=100, headers=[]))
            event = await http.next_event(self.conn, self.reader, self.touch)
            if isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return chunks
            else:
                raise h11.RemoteProtocolError(f"unexpected {event!r} in a request body")

    async def _exchange(
        self, decision: Decision, request: h11.Request, body: list[bytes], upgrade: bool
    ) -> h11.Response | h11.InformationalResponse:
        """Send the request to the target and wait for its response head; retry once on a stale connection."""
        reused = await self._upstream_for(decision)
        try:
            return await self._send_and_receive(request, body, upgrade)
        except TargetBroke:
            if not reused:
                raise
        log.debug(
            "%s: kept-alive connection to %s was stale; reconnecting", self.name, decision.target.target_id
        )
        await self._upstream_for(decision)
        return await self._send_and_receive(request, body, upgrade)

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
        self, request: h11.Request, body: list[bytes], upgrade: bool
    ) -> h11.Response | h11.InformationalResponse:
        upstream = self._live_upstream()
        cfg = self.config
        headers = http.request_headers(
            request, self.client_ip, cfg.lb_port, drop_cookies=cfg.drop_cookies, upgrade=upgrade
        )
        try:
            forwarded = h11.Request(method=request.method, target=request.target, headers=headers)
            chunks = [h11.Data(data=chunk) for chunk in body]
            http.send(upstream.conn, upstream.writer, forwarded, *chunks, h11.EndOfMessage())
            await upstream.writer.drain()
            while True:
                event = await http.next_event(upstream.conn, upstream.reader, self.touch)
                if isinstance(event, h11.InformationalResponse) and event.status_code != 101:
                    continue  # a 100 Continue meant for us, not the client
                if isinstance(event, h11.Response | h11.InformationalResponse):
                    return event
                raise TargetBroke(f"no response: {event!r}")
        except (OSError, h11.ProtocolError) as exc:
            upstream.abort()
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
        )

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
                if self.config.target_group.state(upstream.target_id) is TargetState.DRAINING:
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
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            with contextlib.suppress(ConnectionError, h11.LocalProtocolError):
                await self._error(400)

    async def _error(self, status: int) -> None:
        response, body = http.error_response(status)
        http.send(self.conn, self.writer, response, body, h11.EndOfMessage())
        await self.writer.drain()

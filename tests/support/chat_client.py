"""A real python-socketio client that records every chat event, for tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from chat.client import RecoveringClient


def missing_and_duplicated(sent: list[str], got: list[str]) -> str:
    """Why `got` is not `sent` exactly once, in order: for an assertion's message."""
    return f"missing {sorted(set(sent) - set(got))[:10]}; duplicates {len(got) - len(set(got))}"


CHAT_EVENTS = ("login", "user joined", "user left", "new message", "typing", "stop typing", "error")


class ChatClient:
    """Connects, logs in, sends, and waits for events; each client has its own cookie jar."""

    def __init__(self, name: str = "", *, reconnection: bool = False) -> None:
        self.name = name
        # own session = own cookies (AWSALB), like a separate browser; aiohttp ignores cookies from IP hosts
        # such as 127.0.0.1 unless the jar is `unsafe`
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.sio = RecoveringClient(reconnection=reconnection, http_session=self.http)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        for event in CHAT_EVENTS:
            self.sio.on(event, self._recorder(event))

    def _recorder(self, event: str) -> Callable[..., Any]:
        async def record(data: Any = None) -> None:
            self.events.append((event, data))
            self._changed.set()

        return record

    async def connect(self, url: str, transports: list[str] | None = None) -> None:
        await self.sio.connect(url, transports=transports or ["polling", "websocket"], wait_timeout=10)

    async def login(self, username: str | None = None) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call("add user", username or self.name, timeout=10)
        return ack

    async def say(self, message: Any) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call("new message", message, timeout=10)
        return ack

    def received(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def wait_for(
        self, event: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 10.0
    ) -> Any:
        async def scan() -> Any:
            seen = 0
            while True:
                for name, data in self.events[seen:]:
                    if name == event and predicate(data):
                        return data
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            recent = [f"{name}: {str(data)[:120]}" for name, data in self.events[-5:]]
            raise AssertionError(
                f"{self.name}: no {event!r} matching within {timeout}s; {len(self.events)} events, last: {recent}"
            ) from None

    async def close(self) -> None:
        try:
            await self.sio.disconnect()
        finally:
            await self.http.close()

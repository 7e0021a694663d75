"""`RecoveringClient`: python-socketio's AsyncClient taught connection-state recovery (Socket.IO v5).

python-socketio's client has no recovery. This subclass does what the official JavaScript client (>= 4.6) does:
it keeps the private session id (`pid`) from the CONNECT answer and the offset that ends each broadcast event
(the offset is stripped before handlers see the event), sends both back when it reconnects, and sets
`recovered` when the server restored the session. `call_with_retry` gives at-least-once sends like the JS
client's `ackTimeout` + `retries`; the server drops a retried duplicate.
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

from chat import _compat


class RecoveringClient(_compat.SocketIOClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pid: str | None = None
        self.offset: str | None = None
        self.recovered = False

    async def connect(self, url: str, *args: Any, auth: Any = None, **kwargs: Any) -> None:
        extra = auth if isinstance(auth, dict) else {}

        def recovery_auth() -> dict[str, Any]:
            if self.pid is not None and self.offset is not None:
                return {**extra, "pid": self.pid, "offset": self.offset}
            return dict(extra)

        await super().connect(url, *args, auth=recovery_auth, **kwargs)

    def connect_answered(self, namespace: str | None, data: Any) -> None:
        pid = data.get("pid") if isinstance(data, dict) else None
        self.recovered = bool(pid) and pid == self.pid
        self.pid = pid

    def event_arguments(self, data: list[Any]) -> list[Any]:
        if self.pid is not None and len(data) > 2 and isinstance(data[-1], str):
            self.offset = data[-1]
            return data[:-1]
        return data

    async def disconnect(self) -> None:
        """Log out for good: the server sees the Socket.IO DISCONNECT before the connection closes."""
        await self.disconnect_flushed(2.0)

    async def call_with_retry(
        self, event: str, *args: Any, ack_timeout: float = 5.0, retries: int = 5, backoff: float = 0.5
    ) -> Any:
        """Emit and wait for the ack; on timeout, disconnection or a retryable refusal (`{"ok": false, "retry":
        true}`: the server stored nothing) send again (at-least-once). Returns the last ack."""
        for attempt in range(retries + 1):
            try:
                ack = await self.call(event, args[0] if len(args) == 1 else args, timeout=ack_timeout)
            except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
                if attempt == retries:
                    raise
            else:
                if not (isinstance(ack, dict) and ack.get("retry") is True) or attempt == retries:
                    return ack
            await asyncio.sleep(backoff * (attempt + 1))
        raise AssertionError("unreachable")

"""Optional receivers that are the official Socket.IO JavaScript client (socket.io-client in Node).

Our own client (`emulator.loadgen.reconnecting`) does what the official one does; these receivers check that the
official one, with its defaults (reconnection, connection-state recovery), gets every acked message through the
same fault. They need Node and the socket.io-client package: `npm ci --prefix tests/js` in a checkout installs it
under tests/js/node_modules; `--node-modules DIR` or `CHAT_NODE_MODULES` points elsewhere. A user-facing command
does not depend on a test directory, so they are off unless asked for (`--official-receivers N`).

One Node process runs all of them (`official_receivers.mjs`) and reports each receiver's sessions, lost
connections and messages as JSON lines; `OfficialReceivers` turns those lines into the same `Listener` calls our
client makes, stamped with the Python clock when the line arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from emulator.clock import Clock
from emulator.tasks import TaskSet

log = logging.getLogger(__name__)

SCRIPT = "official_receivers.mjs"
DEFAULT_NODE_MODULES = Path("tests/js/node_modules")
READY_TIMEOUT = 30.0


def find_node_modules(given: Path | None) -> Path | None:
    """The node_modules holding socket.io-client: `given`, else $CHAT_NODE_MODULES, else ./tests/js/node_modules."""
    env = os.environ.get("CHAT_NODE_MODULES")
    for candidate in (given, Path(env) if env else None, DEFAULT_NODE_MODULES):
        if candidate is not None and (candidate / "socket.io-client" / "package.json").is_file():
            return candidate.resolve()
    return None


class ParticipantListener(Protocol):
    """The driver's listener, which takes any participant (the loadgen's `Listener` for our own client)."""

    def session_started(self, client: Any, at: float, recovered: bool) -> None: ...

    def connection_lost(self, client: Any, at: float, reason: str) -> None: ...

    def message(self, client: Any, at: float, text: str) -> None: ...


class OfficialParticipant:
    """One socket.io-client receiver, as the driver sees a participant."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sticky: str | None = None
        self.sessions = 0
        self.recovered = 0
        self.not_recovered = 0
        self.last_error = ""
        self._connected = asyncio.Event()
        self._closed = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def run(self) -> None:
        await self._closed.wait()  # the Node process runs the client

    async def close(self) -> None:
        self._closed.set()

    def session(self, recovered: bool, sticky: str | None) -> None:
        if self.sessions:
            if recovered:
                self.recovered += 1
            else:
                self.not_recovered += 1
        self.sessions += 1
        self.sticky = sticky
        self._connected.set()

    def lost(self, reason: str) -> None:
        self.last_error = reason
        self._connected.clear()


class OfficialReceivers:
    """`count` socket.io-client receivers in one Node process, reporting to `listener`."""

    def __init__(
        self,
        count: int,
        url: str,
        listener: ParticipantListener,
        node_modules: Path,
        *,
        clock: Clock,
        run: str,
    ) -> None:
        self.url = url
        self.listener = listener
        self.node_modules = node_modules
        self.clock = clock
        self.prefix = f"{run}-official"
        self.participants = [OfficialParticipant(f"j{i}") for i in range(count)]
        self.version = ""
        self._process: asyncio.subprocess.Process | None = None
        self._ready = asyncio.Event()
        self._tasks = TaskSet()

    async def start(self) -> None:
        script = resources.files("emulator.chaos") / SCRIPT
        with resources.as_file(script) as path:
            self._process = await asyncio.create_subprocess_exec(
                "node",
                str(path),
                self.url,
                str(len(self.participants)),
                self.prefix,
                env={**os.environ, "CHAT_NODE_MODULES": str(self.node_modules)},
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        self._tasks.spawn(self._read(), "official-receivers-stdout")
        self._tasks.spawn(self._log_stderr(), "official-receivers-stderr")
        async with asyncio.timeout(READY_TIMEOUT):
            await self._ready.wait()

    async def stop(self) -> None:
        for participant in self.participants:
            await participant.close()
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        await self._tasks.cancel_all()

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for line in self._process.stdout:
            try:
                self.handle(json.loads(line))
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                log.warning("official receivers: bad line %r: %s", line[:200], exc)

    async def _log_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        async for line in self._process.stderr:
            log.warning("official receivers: %s", line.decode(errors="replace").rstrip())

    def handle(self, line: dict[str, Any]) -> None:
        """One JSON line from the Node process."""
        if line["e"] == "ready":
            self.version = str(line.get("client", ""))
            self._ready.set()
            return
        participant = self.participants[int(line["c"])]
        now = self.clock.now()
        if line["e"] == "session":
            participant.session(bool(line["recovered"]), line.get("sticky"))
            self.listener.session_started(participant, now, bool(line["recovered"]))
        elif line["e"] == "lost":
            participant.lost(str(line.get("reason", "")))
            self.listener.connection_lost(participant, now, str(line.get("reason", "")))
        elif line["e"] == "msg":
            self.listener.message(participant, now, str(line["text"]))
        elif line["e"] == "refused":
            participant.last_error = f"login refused: {line.get('error', '')}"

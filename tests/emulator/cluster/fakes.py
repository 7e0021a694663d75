"""A scripted WorkerRuntime, so the hands can be tested without starting chat workers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping

_PORTS = itertools.count(41000)
_PIDS = itertools.count(70000)


class FakeRuntime:
    def __init__(
        self,
        task_id: str,
        *,
        obeys_sigterm: bool = True,
        fails_to_start: bool = False,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.task_id = task_id
        self.host = "127.0.0.1"
        self.port = 0
        self.pid: int | None = None
        self.obeys_sigterm = obeys_sigterm
        self.fails_to_start = fails_to_start
        self.gate = gate  # when set, start() waits for it (a worker that takes its time to listen)
        self.signals: list[str] = []
        self.start_cancelled = False
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def start(self) -> None:
        self.pid = next(_PIDS)
        try:
            await asyncio.sleep(0)
            if self.gate is not None:
                await self.gate.wait()
        except asyncio.CancelledError:
            self.start_cancelled = True
            raise
        if self.fails_to_start:
            raise RuntimeError("boom at start")
        self.port = next(_PORTS)

    async def wait_exit(self) -> int | None:
        return await asyncio.shield(self._exit)

    def crash(self, code: int = 1) -> None:
        if not self._exit.done():
            self._exit.set_result(code)

    async def terminate(self) -> None:
        self.signals.append("SIGTERM")
        if self.obeys_sigterm:
            self.crash(0)

    async def kill(self) -> None:
        self.signals.append("SIGKILL")
        self.crash(137)

    def cpu_seconds(self) -> float:
        return 0.5

    def open_connections(self) -> int | None:
        return 0


class FakeLauncher:
    isolation = "fake"
    cpu_attribution = "fake: a constant"

    def __init__(self) -> None:
        self.runtimes: dict[str, FakeRuntime] = {}
        self.environments: dict[str, dict[str, str]] = {}
        self.obeys_sigterm = True
        self.failures_left = 0
        self.gate: asyncio.Event | None = None
        self.refuse: Exception | None = None  # raised by create() itself
        self.forgotten: list[str] = []

    def create(self, task_id: str, environment: Mapping[str, str]) -> FakeRuntime:
        if self.refuse is not None:
            raise self.refuse
        fails = self.failures_left > 0
        self.failures_left -= int(fails)
        runtime = FakeRuntime(task_id, obeys_sigterm=self.obeys_sigterm, fails_to_start=fails, gate=self.gate)
        self.runtimes[task_id] = runtime
        self.environments[task_id] = dict(environment)
        return runtime

    def forget(self, task_id: str) -> None:
        self.forgotten.append(task_id)


async def settle(predicate: object, *, rounds: int = 200) -> None:
    """Let the event loop run until `predicate()` holds (no wall-clock waiting involved)."""
    assert callable(predicate)
    for _ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def spin(rounds: int = 20) -> None:
    """Give the event loop a few turns (to show that something does NOT happen)."""
    for _ in range(rounds):
        await asyncio.sleep(0)

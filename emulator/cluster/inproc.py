"""In-process workers: `chat.server.ChatWorker` objects on this event loop, sharing one Redis.

All workers share one `fakeredis.FakeServer` (the embedded Redis) or one real Redis URL, so their
broadcasts and presence cross workers exactly as separate processes' would. Each worker's `Settings` are built
from its task definition revision's environment, as `python -m chat` builds them from the OS environment, under
the emulator's overrides (`emulator.cluster.environment`): a loopback host, any free port, the shared Redis.

CPU attribution (honest, and said so in `status`): there is one OS process, so the only true figure
is the process's own CPU time, which also pays for the proxy, moto and the health checker. Each
sample splits the CPU used since the previous sample across the running workers in proportion to
their open Socket.IO connections at that moment (equally when no worker has any). Use
`--isolation process` for per-worker CPU that is measured, not attributed.

Logs: a worker's records, its uvicorn lines and its ActiveConnections EMF lines (the `chat.emf` logger, which
`python -m chat` prints on stdout) alike, go through this process's logging, where `chat-emulator up` sends them
(its log file under the dashboard); the emulator publishes the metric itself, from `/metrics`
(`emulator.telemetry.ConnectionGauge`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import psutil

from chat.config import ConfigError, Settings
from chat.server import ChatWorker
from emulator.cluster.environment import worker_environment
from emulator.cluster.runtime import WorkerStartError
from emulator.tasks import spawn

log = logging.getLogger(__name__)

EXIT_GRACEFUL = 0
EXIT_KILLED = 137  # 128 + SIGKILL, what ECS reports for a killed container

CPU_ATTRIBUTION = (
    "inproc: one OS process; its CPU time is split across workers by open connections "
    "(equally when idle), and includes the proxy and moto"
)


class SharedCpuMeter:
    """Splits this process's CPU time across in-process workers by a weight (open connections)."""

    def __init__(self, process: psutil.Process | None = None) -> None:
        self._process = process or psutil.Process()
        self._last_total = self._process_cpu()
        self._weights: dict[str, Callable[[], int]] = {}
        self._attributed: dict[str, float] = {}

    def _process_cpu(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def register(self, worker_id: str, weight: Callable[[], int]) -> None:
        self.sample()  # CPU used before this worker existed is not its own
        self._weights[worker_id] = weight
        self._attributed.setdefault(worker_id, 0.0)

    def unregister(self, worker_id: str) -> None:
        self.sample()
        self._weights.pop(worker_id, None)

    def forget(self, worker_id: str) -> None:
        self._weights.pop(worker_id, None)
        self._attributed.pop(worker_id, None)

    def sample(self) -> None:
        total = self._process_cpu()
        delta, self._last_total = max(0.0, total - self._last_total), total
        if not self._weights or delta == 0.0:
            return
        weights = {wid: max(0, fn()) for wid, fn in self._weights.items()}
        whole = sum(weights.values())
        for wid, weight in weights.items():
            share = weight / whole if whole else 1 / len(weights)
            self._attributed[wid] += delta * share

    def cpu_seconds(self, worker_id: str) -> float:
        self.sample()
        return self._attributed.get(worker_id, 0.0)


class InProcWorker:
    """One ChatWorker on this event loop, behind the WorkerRuntime interface."""

    def __init__(
        self,
        task_id: str,
        settings: Settings,
        fake_server: Any,
        meter: SharedCpuMeter,
        graceful_timeout: float,
    ) -> None:
        self.task_id = task_id
        self.host = settings.host
        self.port = 0
        self.pid: int | None = None
        self._settings = settings
        self._fake_server = fake_server
        self._meter = meter
        self._graceful_timeout = graceful_timeout
        self._worker: ChatWorker | None = None
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._stopper: asyncio.Task[None] | None = None

    @property
    def settings(self) -> Settings:
        return self._settings

    async def start(self) -> None:
        worker = self._worker = ChatWorker(self._settings, fake_redis_server=self._fake_server)
        starting = spawn(worker.start(), name=f"inproc-start-{self.task_id[:8]}")
        try:
            await asyncio.shield(starting)
        except asyncio.CancelledError:
            # a Kill during the start: ChatWorker.start is not safe to interrupt halfway (uvicorn half bound),
            # so it ends first and `kill` then drops the whole worker
            await asyncio.wait({starting})
            raise
        self.port = worker.port
        self._meter.register(self.task_id, self._connections)

    def _connections(self) -> int:
        return self._worker.connection_count if self._worker is not None else 0

    def open_connections(self) -> int | None:
        return self._connections()

    async def wait_exit(self) -> int | None:
        return await asyncio.shield(self._exited)

    def _exit(self, code: int) -> None:
        if not self._exited.done():
            self._meter.unregister(self.task_id)
            self._exited.set_result(code)

    async def terminate(self) -> None:
        if self._worker is None or self._exited.done() or self._stopper is not None:
            return
        self._stopper = spawn(self._graceful_stop(self._worker), name=f"inproc-stop-{self.task_id[:8]}")

    async def _graceful_stop(self, worker: ChatWorker) -> None:
        try:
            await worker.stop(timeout=self._graceful_timeout)
        finally:
            self._exit(EXIT_GRACEFUL)

    async def kill(self) -> None:
        if self._worker is None or self._exited.done():
            self._exit(EXIT_KILLED)
            return
        if self._stopper is not None:
            self._stopper.cancel()
        try:
            await self._worker.kill()
        except Exception:  # a worker whose start failed halfway may not have every part to drop
            log.exception("in-process worker %s: kill after a failed start", self.task_id[:8])
        finally:
            self._exit(EXIT_KILLED)

    def cpu_seconds(self) -> float:
        return self._meter.cpu_seconds(self.task_id)


class InProcLauncher:
    """Creates in-process workers sharing `fake_server` (the embedded Redis) or `redis_url`.

    `key_prefix`, when given, overrides the revision's REDIS_KEY_PREFIX (tests isolate themselves with it)."""

    isolation = "inproc"
    cpu_attribution = CPU_ATTRIBUTION

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        fake_server: Any = None,
        key_prefix: str | None = None,
        graceful_timeout: float = 30.0,
    ) -> None:
        if redis_url is None and fake_server is None:
            raise ValueError("in-process workers need a shared Redis: a fake_server or a redis_url")
        self._redis_url = redis_url
        self._fake_server = fake_server
        self._key_prefix = key_prefix
        self._graceful_timeout = graceful_timeout
        self.meter = SharedCpuMeter()

    def overrides(self) -> dict[str, str]:
        """What the emulator decides, whatever the revision says: loopback, any free port, the shared Redis."""
        env = {"HOST": "127.0.0.1", "PORT": "0"}
        if self._redis_url is not None:
            env["REDIS_URL"] = self._redis_url
        else:  # the shared embedded Redis is the service's Redis: a revision requiring one is satisfied
            env["CHAT_REQUIRE_REDIS"] = "false"
        if self._key_prefix is not None:
            env["REDIS_KEY_PREFIX"] = self._key_prefix
        return env

    def settings(self, environment: Mapping[str, str]) -> Settings:
        """The worker's Settings, as `python -m chat` would read them from this environment."""
        try:
            return Settings.from_env(worker_environment(environment, self.overrides()))
        except ConfigError as exc:
            raise WorkerStartError(f"configuration error: {exc}") from None

    def create(self, task_id: str, environment: Mapping[str, str]) -> InProcWorker:
        fake = self._fake_server if self._redis_url is None else None
        return InProcWorker(task_id, self.settings(environment), fake, self.meter, self._graceful_timeout)

    def forget(self, task_id: str) -> None:
        self.meter.forget(task_id)

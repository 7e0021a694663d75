"""OS-process workers: `python -m chat`, one per task, on a free loopback port each.

Each worker's OS environment is its task definition revision's environment (the twelve-factor way the
container gets it on Fargate, ECS-API `ContainerDefinition.environment`) over the emulator's own, under the
emulator's overrides (`emulator.cluster.environment`): HOST=127.0.0.1, a free PORT, REDIS_URL, ECS_TASK_ID.
Workers run in their own session, so a Ctrl+C in the terminal reaches only the emulator, which then stops them
in AWS's order; on Linux they also get SIGKILL if the emulator itself dies (PR_SET_PDEATHSIG), so no worker
outlives it. A start cancelled while the process is being created kills it (asyncio closes the transport).
CPU is measured per worker with psutil (`cpu_times` of the PID): real figures, not an attribution.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import psutil

from emulator.cluster.environment import worker_environment
from emulator.cluster.runtime import WorkerStartError

CPU_ATTRIBUTION = "process: measured per worker from its own PID (psutil cpu_times)"
_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the child receive SIGKILL when the emulator dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork, not in the child
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return preexec


async def _port_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class ProcessWorker:
    """One `python -m chat` process behind the WorkerRuntime interface."""

    def __init__(
        self,
        task_id: str,
        argv: list[str],
        env: Mapping[str, str],
        start_timeout: float,
        log_path: Path | None,
    ) -> None:
        self.task_id = task_id
        self.host = env["HOST"]
        self.port = int(env["PORT"])
        self.pid: int | None = None
        self._argv = argv
        self._env = dict(env)
        self._start_timeout = start_timeout
        self._log_path = log_path
        self._proc: asyncio.subprocess.Process | None = None
        self._psutil: psutil.Process | None = None
        self._cpu_last = 0.0

    async def start(self) -> None:
        log: IO[bytes] | int = asyncio.subprocess.DEVNULL
        if self._log_path is not None:
            log = self._log_path.open("ab")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._argv,
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        finally:
            if not isinstance(log, int):
                log.close()
        self.pid = self._proc.pid
        with contextlib.suppress(psutil.Error):
            self._psutil = psutil.Process(self._proc.pid)
        await self._wait_listening(self._proc)

    async def _wait_listening(self, proc: asyncio.subprocess.Process) -> None:
        # Start-up is real I/O, not emulated time: wall-clock deadline and polling, whatever the Clock.
        try:
            async with asyncio.timeout(self._start_timeout):
                while not await _port_open(self.host, self.port):
                    if proc.returncode is not None:
                        raise WorkerStartError(f"worker exited with code {proc.returncode} before listening")
                    await asyncio.sleep(0.05)
        except TimeoutError:
            await self.kill()
            raise WorkerStartError(
                f"worker not listening on port {self.port} after {self._start_timeout}s"
            ) from None

    async def wait_exit(self) -> int | None:
        if self._proc is None:
            return None
        return await self._proc.wait()

    def _signal(self, signum: int) -> None:
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signum)

    async def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    async def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def cpu_seconds(self) -> float:
        if self._psutil is not None:
            try:
                times = self._psutil.cpu_times()
                self._cpu_last = float(times.user + times.system)
            except psutil.Error:
                pass  # exited: keep the last figure
        return self._cpu_last

    def open_connections(self) -> int | None:
        return None  # another process: the target group's proxy counts them


class ProcessLauncher:
    """Creates `python -m chat` workers that all reach the same Redis at `redis_url`.

    `key_prefix`, when given, overrides the revision's REDIS_KEY_PREFIX (tests isolate themselves with it)."""

    isolation = "process"
    cpu_attribution = CPU_ATTRIBUTION

    def __init__(
        self,
        *,
        redis_url: str,
        key_prefix: str | None = None,
        start_timeout: float = 30.0,
        log_dir: Path | None = None,
        python: str = sys.executable,
    ) -> None:
        self._redis_url = redis_url
        self._key_prefix = key_prefix
        self._start_timeout = start_timeout
        self._log_dir = log_dir
        self._python = python

    def environment(self, task_id: str, revision: Mapping[str, str]) -> dict[str, str]:
        """The worker's OS environment: the emulator's, the revision's, then what the emulator decides."""
        overrides = {
            "HOST": "127.0.0.1",
            "PORT": str(free_port()),
            "REDIS_URL": self._redis_url,
            "ECS_TASK_ID": task_id,
            "PYTHONUNBUFFERED": "1",
        }
        if self._key_prefix is not None:
            overrides["REDIS_KEY_PREFIX"] = self._key_prefix
        return worker_environment(revision, overrides, base=os.environ)

    def create(self, task_id: str, environment: Mapping[str, str]) -> ProcessWorker:
        env = self.environment(task_id, environment)
        log_path = self._log_dir / f"task-{task_id[:12]}.log" if self._log_dir is not None else None
        argv = [self._python, "-m", "chat"]
        return ProcessWorker(task_id, argv, env, self._start_timeout, log_path)

    def forget(self, task_id: str) -> None:
        return None

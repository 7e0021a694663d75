"""What the cluster needs from a worker, whatever runs it (this process, or an OS process)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class WorkerStartError(RuntimeError):
    """A worker did not start listening (it exited, its configuration is wrong, or it was not ready in time)."""


class WorkerRuntime(Protocol):
    """One chat worker. `start` returns once it listens; the rest mirror docker/ECS signals.

    `start` may be cancelled at any await (a Kill during the start): `kill` afterwards must leave nothing running,
    and `wait_exit` must then return."""

    host: str
    port: int
    pid: int | None

    async def start(self) -> None:
        """Start the worker; return once it accepts connections. Raise WorkerStartError otherwise."""
        ...

    async def wait_exit(self) -> int | None:
        """Return when the worker has exited (by itself, or after terminate/kill); its exit code if any."""
        ...

    async def terminate(self) -> None:
        """Ask for a graceful stop, as SIGTERM does; returns without waiting for the exit."""
        ...

    async def kill(self) -> None:
        """Stop at once, as SIGKILL does: no cleanup. Also after a failed or cancelled start."""
        ...

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) this worker has used since it started."""
        ...

    def open_connections(self) -> int | None:
        """Open Socket.IO connections, when the runtime can see them (None when it cannot)."""
        ...


class WorkerLauncher(Protocol):
    """Makes runtimes: one per task. `isolation` names the kind ("inproc" or "process")."""

    isolation: str
    cpu_attribution: str

    def create(self, task_id: str, environment: Mapping[str, str]) -> WorkerRuntime:
        """A runtime for a new task that runs with `environment` (its task definition revision's), under the
        launcher's own overrides (`emulator.cluster.environment`). May raise WorkerStartError."""
        ...

    def forget(self, task_id: str) -> None:
        """The task is STOPPED: drop any bookkeeping kept for it."""
        ...

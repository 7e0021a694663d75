"""The cluster: the ECS service scheduler's local hands. Start, signal and forget chat workers; report on each.

Data in: the scheduler's `Command`s (`emulator.ecs.model`: Launch with a task definition revision, Terminate, Kill,
Forget) and a `WorkerLauncher`. Data out: one `TaskReport` per task (started, start_error, exited, exit_code), each
task's endpoint, PID and CPU seconds, and an `on_change()` call whenever a report changes. The cluster decides
nothing: how many tasks run, which stop and when SIGTERM becomes SIGKILL are the scheduler's.
May import: asyncio, psutil, stdlib, `emulator.ecs.model`, `emulator.tasks`, and `chat` (in-process workers).
Must not import `emulator.aws` or `emulator.alb` (import-linter).

- `cluster`        `Cluster`: carries out Launch / Terminate / Kill / Forget, reports `TaskReport`s, `close()`
- `runtime`        the `WorkerRuntime` / `WorkerLauncher` protocols, `WorkerStartError`
- `environment`    a worker's environment: its revision's, under the emulator's overrides (HOST, PORT, Redis)
- `inproc`         `InProcLauncher`: ChatWorker objects on this event loop; CPU split by connections
- `process`        `ProcessLauncher`: `python -m chat` per task; CPU measured per PID with psutil
- `redis_backend`  the emulator's Redis: `--redis-url`, a private redis-server, or fakeredis over TCP
"""

from __future__ import annotations

from emulator.cluster.cluster import Cluster
from emulator.cluster.process import ProcessLauncher
from emulator.cluster.redis_backend import RedisBackend, RedisEndpoint, choose_redis_backend
from emulator.cluster.runtime import WorkerLauncher, WorkerRuntime, WorkerStartError

__all__ = [
    "Cluster",
    "ProcessLauncher",
    "RedisBackend",
    "RedisEndpoint",
    "WorkerLauncher",
    "WorkerRuntime",
    "WorkerStartError",
    "choose_redis_backend",
]

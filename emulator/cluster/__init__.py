"""The cluster: the ECS service scheduler's local hands. Start, stop and replace chat workers.

Data in: a desired count (from the supervisor, which reads it from moto) and a `WorkerLauncher`.
Data out: tasks moving through ECS's lifecycle, announced to subscribers (the supervisor registers
RUNNING tasks in the target group and writes running/pending counts to moto), and CPU per task.
May import: asyncio, psutil, stdlib, `emulator.model`, `emulator.clock`, and `chat` (in-process
workers). Must not import `emulator.aws` or `emulator.alb` (import-linter).

- `task`           `Task` and its ECS lifecycle states (PROVISIONING ... STOPPED), stopped reasons
- `runtime`        the `WorkerRuntime` / `WorkerLauncher` protocols, `WorkerStartError`
- `cluster`        `Cluster`: the scheduler loop, stop in AWS's order, replacement of dead tasks
- `inproc`         `InProcLauncher`: ChatWorker objects on this event loop; CPU split by connections
- `process`        `ProcessLauncher`: `python -m chat` per task; CPU measured per PID with psutil
- `redis_backend`  the emulator's Redis: `--redis-url`, a private redis-server, or fakeredis over TCP
"""

from __future__ import annotations

from emulator.cluster.cluster import Cluster, DrainHook, TaskCounts, TaskListener
from emulator.cluster.process import ProcessLauncher
from emulator.cluster.redis_backend import RedisBackend, RedisEndpoint, choose_redis_backend
from emulator.cluster.runtime import WorkerLauncher, WorkerRuntime, WorkerStartError
from emulator.cluster.task import Task, TaskStatus

__all__ = [
    "Cluster",
    "DrainHook",
    "ProcessLauncher",
    "RedisBackend",
    "RedisEndpoint",
    "Task",
    "TaskCounts",
    "TaskListener",
    "TaskStatus",
    "WorkerLauncher",
    "WorkerRuntime",
    "WorkerStartError",
    "choose_redis_backend",
]

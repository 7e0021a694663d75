"""The ECS service scheduler's local hands: keep `desired_count` tasks running, replace the dead.

Each tick (about once a second on the Clock, or at once when something changes) the scheduler
compares the active tasks (PROVISIONING, PENDING, RUNNING and not asked to stop) with the desired
count: it launches the missing ones, never holding more than `maximum_percent` of the desired count
at once (ECS's rolling limit, rounded down), and on scale-in stops the surplus, not-yet-running
tasks first, then the newest.

Stopping follows AWS's order: DEACTIVATING (the `on_deactivating` hook deregisters the target and
waits out the deregistration delay), STOPPING (SIGTERM), then SIGKILL after the task definition's
`stopTimeout` on the Clock, then STOPPED. A task that exits on its own is STOPPED with ECS's
"Essential container in task exited" and replaced; a task the target group finds unhealthy is
stopped by the supervisor through `request_stop(..., REASON_UNHEALTHY)` and replaced the same way.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from emulator.clock import Clock
from emulator.cluster.runtime import WorkerLauncher, WorkerRuntime
from emulator.cluster.task import (
    PENDING_STATUSES,
    REASON_EXITED,
    REASON_SCALING_IN,
    REASON_SHUTDOWN,
    REASON_START_FAILED,
    Task,
    TaskStatus,
    new_task_id,
)
from emulator.tasks import spawn, wait_or_timeout

log = logging.getLogger(__name__)

TaskListener = Callable[[Task, "TaskStatus | None", TaskStatus], None]
DrainHook = Callable[[Task], Awaitable[None]]


@dataclass(frozen=True)
class TaskCounts:
    """ECS's service counts: `runningCount` and `pendingCount`."""

    running: int
    pending: int


class Cluster:
    """Starts, stops and replaces chat workers (tasks) to follow the service's desired count."""

    def __init__(
        self,
        launcher: WorkerLauncher,
        clock: Clock,
        *,
        desired_count: int = 0,
        stop_timeout_seconds: float = 30.0,
        maximum_percent: int = 200,
        on_deactivating: DrainHook | None = None,
        scheduler_interval: float = 1.0,
    ) -> None:
        self.launcher = launcher
        self.clock = clock
        self.stop_timeout_seconds = stop_timeout_seconds
        self.maximum_percent = maximum_percent
        self.on_deactivating = on_deactivating
        self._desired = max(0, desired_count)
        self._interval = scheduler_interval
        self._tasks: dict[str, Task] = {}
        self._runtimes: dict[str, WorkerRuntime] = {}
        self._exits: dict[str, asyncio.Future[int | None]] = {}
        self._started: dict[str, asyncio.Event] = {}
        self._stoppers: dict[str, asyncio.Task[None]] = {}
        self._lifecycles: dict[str, asyncio.Task[None]] = {}
        self._listeners: list[TaskListener] = []
        self.stopped: collections.deque[Task] = collections.deque(maxlen=50)
        self._wake = asyncio.Event()
        self._scheduler: asyncio.Task[None] | None = None
        self._closing = False
        self._sequence = itertools.count(1)

    # -- reading -------------------------------------------------------------------------------
    @property
    def desired_count(self) -> int:
        return self._desired

    @property
    def tasks(self) -> list[Task]:
        """Tasks not yet STOPPED, oldest first."""
        return sorted(self._tasks.values(), key=lambda t: (t.created_at, t.sequence))

    def task(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def counts(self) -> TaskCounts:
        tasks = self._tasks.values()
        return TaskCounts(
            running=sum(t.status == "RUNNING" for t in tasks),
            pending=sum(t.status in PENDING_STATUSES for t in tasks),
        )

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by each RUNNING task (see the launcher's `cpu_attribution`)."""
        return {
            tid: self._runtimes[tid].cpu_seconds()
            for tid, task in self._tasks.items()
            if task.status == "RUNNING" and tid in self._runtimes
        }

    def open_connections(self, task_id: str) -> int | None:
        runtime = self._runtimes.get(task_id)
        return runtime.open_connections() if runtime is not None else None

    def subscribe(self, listener: TaskListener) -> None:
        """Call `listener(task, old_status, new_status)` on every lifecycle change (old None = new task)."""
        self._listeners.append(listener)

    # -- driving -------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._scheduler is None:
            self._scheduler = spawn(self._schedule_forever(), name="ecs-service-scheduler")

    def set_desired_count(self, desired_count: int) -> None:
        self._desired = max(0, desired_count)
        self._wake.set()

    def request_stop(self, task_id: str, reason: str) -> asyncio.Task[None] | None:
        """Begin stopping a task in AWS's order; the scheduler launches its replacement if needed."""
        task = self._tasks.get(task_id)
        if task is None:
            return None
        if task_id not in self._stoppers:
            task.desired_status = "STOPPED"
            task.stopped_reason = reason
            self._stoppers[task_id] = spawn(self._stop(task), name=f"stop-task-{task_id[:8]}")
            self._wake.set()
        return self._stoppers[task_id]

    async def stop_task(self, task_id: str, reason: str) -> None:
        stopper = self.request_stop(task_id, reason)
        if stopper is not None:
            await asyncio.shield(stopper)

    async def kill_task(self, task_id: str) -> None:
        """Kill a task's worker abruptly (as if it crashed); the scheduler notices and replaces it."""
        runtime = self._runtimes.get(task_id)
        if runtime is not None:
            await runtime.kill()

    async def shutdown(self, *, force: bool = False) -> None:
        """Stop every task (AWS's order, or SIGKILL at once when `force`) and the scheduler."""
        self._closing = True
        self._desired = 0
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
        if force:
            await asyncio.gather(*(self._force_stop(t) for t in list(self._tasks.values())))
        else:
            stoppers = [self.request_stop(tid, REASON_SHUTDOWN) for tid in list(self._tasks)]
            # return_exceptions: a forced shutdown arriving meanwhile cancels these stoppers
            await asyncio.gather(
                *(asyncio.shield(s) for s in stoppers if s is not None), return_exceptions=True
            )
        lifecycles = list(self._lifecycles.values())
        await asyncio.gather(*lifecycles, return_exceptions=True)

    # -- the scheduler -------------------------------------------------------------------------
    async def _schedule_forever(self) -> None:
        while not self._closing:
            try:
                self._reconcile()
            except Exception:
                log.exception("service scheduler tick failed")
            self._wake.clear()
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await wait_or_timeout(woken, self.clock.sleep(self._interval))
            finally:
                woken.cancel()

    def _reconcile(self) -> None:
        active = [t for t in self._tasks.values() if t.active]
        surplus = len(active) - self._desired
        if surplus > 0:
            for task in self._scale_in_order(active)[:surplus]:
                self.request_stop(task.task_id, REASON_SCALING_IN)
            return
        ceiling = max(self._desired, self._desired * self.maximum_percent // 100)
        for _ in range(min(-surplus, ceiling - len(self._tasks))):
            self._launch()

    @staticmethod
    def _scale_in_order(active: list[Task]) -> list[Task]:
        """Not-yet-RUNNING tasks first (they serve nobody), then the newest."""
        return sorted(active, key=lambda t: (t.status == "RUNNING", -t.created_at, -t.sequence))

    # -- one task's life -----------------------------------------------------------------------
    def _set(self, task: Task, status: TaskStatus) -> None:
        old: TaskStatus | None = task.status if task.history else None
        task.status = status
        task.history.append((self.clock.now(), status))
        for listener in list(self._listeners):
            try:
                listener(task, old, status)
            except Exception:
                log.exception("task listener failed on %s -> %s", task.task_id[:8], status)

    def _launch(self) -> Task:
        task = Task(task_id=new_task_id(), created_at=self.clock.now(), sequence=next(self._sequence))
        self._tasks[task.task_id] = task
        self._started[task.task_id] = asyncio.Event()
        self._set(task, "PROVISIONING")
        self._lifecycles[task.task_id] = spawn(self._run(task), name=f"task-{task.task_id[:8]}")
        return task

    async def _run(self, task: Task) -> None:
        runtime = self.launcher.create(task.task_id)
        self._runtimes[task.task_id] = runtime
        self._set(task, "PENDING")
        try:
            await runtime.start()
        except Exception as exc:
            log.warning("task %s failed to start: %s", task.task_id[:8], exc)
            task.desired_status = "STOPPED"
            task.stopped_reason = f"{REASON_START_FAILED}: {exc}"
            with contextlib.suppress(Exception):
                await runtime.kill()
            self._finish(task, None)
            return
        finally:
            self._started[task.task_id].set()
        task.host, task.port, task.pid = runtime.host, runtime.port, runtime.pid
        task.started_at = self.clock.now()
        exit_future = self._exits[task.task_id] = asyncio.ensure_future(runtime.wait_exit())
        if task.desired_status == "RUNNING":
            self._set(task, "RUNNING")
        code = await asyncio.shield(exit_future)
        if task.desired_status == "RUNNING" and task.status != "STOPPED":
            log.warning("task %s exited on its own (code %s); replacing it", task.task_id[:8], code)
            task.desired_status = "STOPPED"
            task.stopped_reason = f"{REASON_EXITED} (exit code {code})"
            self._finish(task, code)

    async def _stop(self, task: Task) -> None:
        await self._started[task.task_id].wait()
        if task.status == "STOPPED":
            return
        if task.status == "RUNNING":
            self._set(task, "DEACTIVATING")
            if self.on_deactivating is not None:
                try:
                    await self.on_deactivating(task)
                except Exception:
                    log.exception("deregistering task %s failed; stopping it anyway", task.task_id[:8])
        if task.task_id not in self._tasks:  # it died while draining: already STOPPED
            return
        self._set(task, "STOPPING")
        runtime, exit_future = self._runtimes[task.task_id], self._exits[task.task_id]
        await runtime.terminate()
        if not await wait_or_timeout(exit_future, self.clock.sleep(self.stop_timeout_seconds)):
            log.warning("task %s outlived its stop timeout: SIGKILL", task.task_id[:8])
            await runtime.kill()
        self._finish(task, await asyncio.shield(exit_future))

    async def _force_stop(self, task: Task) -> None:
        task.desired_status = "STOPPED"
        task.stopped_reason = task.stopped_reason or REASON_SHUTDOWN
        stopper = self._stoppers.get(task.task_id)
        if stopper is not None:
            stopper.cancel()
        await self._started[task.task_id].wait()
        runtime, exit_future = self._runtimes.get(task.task_id), self._exits.get(task.task_id)
        if runtime is not None:
            await runtime.kill()
        code = await asyncio.shield(exit_future) if exit_future is not None else None
        self._finish(task, code)

    def _finish(self, task: Task, exit_code: int | None) -> None:
        if task.status == "STOPPED":
            return
        task.exit_code = exit_code
        task.stopped_at = self.clock.now()
        self._set(task, "STOPPED")
        self._tasks.pop(task.task_id, None)
        self._runtimes.pop(task.task_id, None)
        self._exits.pop(task.task_id, None)
        self._stoppers.pop(task.task_id, None)
        self._lifecycles.pop(task.task_id, None)
        self.launcher.forget(task.task_id)
        self.stopped.append(task)
        self._wake.set()

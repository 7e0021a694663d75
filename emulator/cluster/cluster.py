"""The ECS service scheduler's hands: start, signal and forget chat workers, and report what each one does.

The decisions (how many tasks, which to stop, when SIGTERM becomes SIGKILL) are the scheduler's
(`emulator.ecs.scheduler`, contract in emulator/ecs/model.py). The cluster carries out its commands, never blocks
the caller, and answers with one `TaskReport` per task it launched and has not yet forgotten:

- `Launch`     a runtime from the launcher with the revision's environment (ECS gives each container its own
               task definition revision's `environment`), started in the background. A failure is reported as
               `start_error` (with `exited` once the worker is gone), never raised.
- `Terminate`  SIGTERM (docker stop). A task still starting gets it as soon as its start ends; a task whose start
               has not begun is not started at all.
- `Kill`       SIGKILL, at any point: a start in progress is cancelled and the worker dropped.
- `Forget`     the task is STOPPED: its report goes (a worker still running is killed first, as a safety net).
- `Register` / `Deregister` are the load balancer's: ignored here.

ECS's stop order (ECS-LIFE, aws-scaling-semantics.md §4.3-4.4: deregister, drain, SIGTERM, stopTimeout,
SIGKILL) is the scheduler's to follow: here a Terminate never turns into a Kill by itself. `on_change()` is called
whenever a report changes (a start ended, a worker exited) so that the control loop can step at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from emulator.cluster.runtime import WorkerLauncher, WorkerRuntime
from emulator.ecs.model import (
    Command,
    Deregister,
    Forget,
    Kill,
    Launch,
    Register,
    Revision,
    TaskReport,
    Terminate,
)
from emulator.tasks import TaskSet

log = logging.getLogger(__name__)

#: Wall seconds a worker gets to end after SIGKILL, when its start failed or was cancelled, before the cluster
#: stops waiting for its exit code (real I/O, not emulated time: whatever the Clock).
EXIT_AFTER_KILL_SECONDS = 10.0


@dataclass(eq=False)
class _Worker:
    """The cluster's own bookkeeping for one task (mutable; never leaves this module)."""

    task_id: str
    revision: Revision
    report: TaskReport
    runtime: WorkerRuntime | None = None
    starting: asyncio.Task[None] | None = None
    terminate_requested: bool = False
    terminate_sent: bool = False
    kill_requested: bool = False
    forgotten: bool = False


class Cluster:
    """Runs the workers the scheduler asks for and reports on each; decides nothing itself."""

    def __init__(self, launcher: WorkerLauncher, on_change: Callable[[], object] | None = None) -> None:
        self.launcher = launcher
        self._on_change = on_change
        self._workers: dict[str, _Worker] = {}  # launched, not yet forgotten: what `reports()` answers
        self._alive: dict[str, _Worker] = {}  # whose lifecycle has not ended (forgotten ones included)
        self._lives: dict[str, asyncio.Task[None]] = {}
        self._tasks = TaskSet()
        self._closing = False

    # -- the scheduler's commands ---------------------------------------------------------------------
    def execute(self, command: Command) -> None:
        """Carry out one command; returns at once (what follows is reported through `reports()`)."""
        match command:
            case Launch():
                self._launch(command.task_id, command.revision)
            case Terminate():
                self._with(command.task_id, "Terminate", self._terminate)
            case Kill():
                self._with(command.task_id, "Kill", self._kill)
            case Forget():
                self._with(command.task_id, "Forget", self._forget)
            case Register() | Deregister():
                pass  # the load balancer's

    def kill_worker(self, task_id: str) -> None:
        """A fault (chaos): SIGKILL the worker behind the scheduler's back; its exit is reported as any other."""
        self._with(task_id, "kill_worker", self._kill)

    # -- what the scheduler and the rest of the emulator read -----------------------------------------
    def reports(self) -> dict[str, TaskReport]:
        """Every task launched and not yet forgotten."""
        return {task_id: worker.report for task_id, worker in self._workers.items()}

    def endpoint(self, task_id: str) -> tuple[str, int] | None:
        """Where the worker listens (host, port), from its start until the task is forgotten."""
        worker = self._workers.get(task_id)
        if worker is None or worker.runtime is None or not worker.report.started:
            return None
        return worker.runtime.host, worker.runtime.port

    def pid(self, task_id: str) -> int | None:
        worker = self._workers.get(task_id)
        return worker.runtime.pid if worker is not None and worker.runtime is not None else None

    def cpu_seconds(self) -> dict[str, float]:
        """Cumulative CPU seconds of each started, not exited task (see the launcher's `cpu_attribution`)."""
        return {
            task_id: worker.runtime.cpu_seconds()
            for task_id, worker in self._workers.items()
            if worker.runtime is not None and worker.report.started and not worker.report.exited
        }

    def open_connections(self, task_id: str) -> int | None:
        worker = self._workers.get(task_id)
        if worker is None or worker.runtime is None or not worker.report.started or worker.report.exited:
            return None
        return worker.runtime.open_connections()

    async def close(self) -> None:
        """The safety net at shutdown: SIGKILL whatever still runs and await every worker's end."""
        self._closing = True
        for worker in list(self._alive.values()):
            self._kill(worker)
        await asyncio.gather(*self._lives.values(), return_exceptions=True)
        await self._tasks.cancel_all()

    # -- carrying commands out ------------------------------------------------------------------------
    def _with(self, task_id: str, what: str, action: Callable[[_Worker], None]) -> None:
        worker = self._workers.get(task_id)
        if worker is None:
            log.debug("%s for unknown task %s ignored", what, task_id[:8])
            return
        action(worker)

    def _launch(self, task_id: str, revision: Revision) -> None:
        if task_id in self._workers or task_id in self._alive:
            log.warning("Launch of task %s ignored: it was already launched", task_id[:8])
            return
        worker = _Worker(task_id, revision, TaskReport(task_id))
        self._workers[task_id] = worker
        if self._closing:
            worker.report = TaskReport(task_id, start_error="the emulator is shutting down", exited=True)
            return
        self._alive[task_id] = worker
        self._lives[task_id] = self._tasks.spawn(self._live(worker), name=f"task-{task_id[:8]}")

    def _terminate(self, worker: _Worker) -> None:
        if worker.report.exited or worker.terminate_requested:
            return
        worker.terminate_requested = True
        if worker.report.started:
            self._send_sigterm(worker)
        # still starting: `_live` sends it once the start has ended; not yet starting: never started

    def _send_sigterm(self, worker: _Worker) -> None:
        if worker.runtime is not None and not worker.terminate_sent:
            worker.terminate_sent = True
            self._tasks.spawn(worker.runtime.terminate(), name=f"sigterm-{worker.task_id[:8]}")

    def _kill(self, worker: _Worker) -> None:
        if worker.report.exited or worker.kill_requested:
            return
        worker.kill_requested = True
        if worker.starting is not None and not worker.starting.done():
            worker.starting.cancel()  # `_live` then kills what the start had made
        elif worker.runtime is not None and worker.starting is not None:
            self._tasks.spawn(worker.runtime.kill(), name=f"sigkill-{worker.task_id[:8]}")
        # not yet starting: `_live` never starts it

    def _forget(self, worker: _Worker) -> None:
        del self._workers[worker.task_id]
        worker.forgotten = True
        if not worker.report.exited:
            log.warning("task %s forgotten while its worker runs: SIGKILL", worker.task_id[:8])
            self._kill(worker)
        if worker.task_id not in self._alive:
            self.launcher.forget(worker.task_id)

    # -- one task's life ------------------------------------------------------------------------------
    async def _live(self, worker: _Worker) -> None:
        try:
            await self._run(worker)
        except (
            Exception
        ) as exc:  # a runtime that broke its contract: the task must still end for the scheduler
            log.exception("task %s: its runtime failed", worker.task_id[:8])
            if not worker.report.exited:
                error = None if worker.report.started else _why(exc)
                self._report(worker, start_error=error, exited=True)
            raise
        finally:
            self._alive.pop(worker.task_id, None)
            self._lives.pop(worker.task_id, None)
            if worker.forgotten:
                self.launcher.forget(worker.task_id)

    async def _run(self, worker: _Worker) -> None:
        task_id = worker.task_id
        if worker.kill_requested or worker.terminate_requested:  # stopped before its start began
            self._report(worker, exited=True)
            return
        try:
            runtime = worker.runtime = self.launcher.create(task_id, dict(worker.revision.environment))
        except Exception as exc:
            log.warning("task %s could not be created: %s", task_id[:8], exc)
            self._report(worker, start_error=_why(exc), exited=True)
            return
        log.info("task %s starting (%s)", task_id[:8], worker.revision.task_definition_arn or "no revision")
        starting = worker.starting = self._tasks.spawn(runtime.start(), name=f"start-task-{task_id[:8]}")
        await asyncio.wait({starting})
        if starting.cancelled() or starting.exception() is not None:
            error = None if starting.cancelled() else _why(starting.exception())
            if error is not None:
                log.warning("task %s failed to start: %s", task_id[:8], error)
            self._report(worker, start_error=error, exited=True, exit_code=await self._drop(runtime))
            return
        log.info("task %s started on %s:%d (pid %s)", task_id[:8], runtime.host, runtime.port, runtime.pid)
        self._report(worker, started=True)
        if worker.terminate_requested:  # a Terminate that came during the start
            self._send_sigterm(worker)
        code = await runtime.wait_exit()
        log.info("task %s exited with code %s", task_id[:8], code)
        self._report(worker, exited=True, exit_code=code)

    async def _drop(self, runtime: WorkerRuntime) -> int | None:
        """After a failed or cancelled start: make sure nothing runs; the exit code, if it comes in time."""
        try:
            await runtime.kill()
        except Exception:
            log.exception("SIGKILL after a failed start failed")
        try:
            async with asyncio.timeout(EXIT_AFTER_KILL_SECONDS):
                return await runtime.wait_exit()
        except TimeoutError:
            log.error("a worker whose start failed had not exited %ss after SIGKILL", EXIT_AFTER_KILL_SECONDS)
            return None

    def _report(
        self,
        worker: _Worker,
        *,
        started: bool = False,
        exited: bool = False,
        start_error: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        old = worker.report
        worker.report = dataclasses.replace(
            old,
            started=old.started or started,
            exited=old.exited or exited,
            start_error=old.start_error or start_error,
            exit_code=exit_code if exit_code is not None else old.exit_code,
        )
        if worker.forgotten or self._on_change is None:
            return
        try:
            self._on_change()
        except Exception:
            log.exception("on_change failed after task %s's report", worker.task_id[:8])


def _why(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}" if exc is not None else "unknown"

"""Simulated ECS tasks: PENDING for `--task-start-seconds`, RUNNING, then draining for the target group's
deregistration delay (still RUNNING, as ECS counts it) before they are gone."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from emulator.scaling.reconcile import ReconcileActions, TaskStatus, TaskView


@dataclass
class SimTask:
    task_id: str
    started_at: float
    running_at: float
    leaves_at: float | None = None

    def status(self, now: float) -> TaskStatus:
        if self.leaves_at is not None:
            return "DRAINING"
        return "RUNNING" if now >= self.running_at else "PENDING"


class SimulatedFleet:
    def __init__(self, start_seconds: float, deregistration_delay: float) -> None:
        self.start_seconds = start_seconds
        self.deregistration_delay = deregistration_delay
        self._tasks: dict[str, SimTask] = {}
        self._ids = itertools.count(1)

    def launch(self, count: int, now: float, start_seconds: float | None = None) -> None:
        delay = self.start_seconds if start_seconds is None else start_seconds
        for _ in range(count):
            task_id = f"task-{next(self._ids)}"
            self._tasks[task_id] = SimTask(task_id, now, now + delay)

    def advance(self, now: float) -> None:
        """Drop tasks whose draining has ended, and PENDING tasks told to stop."""
        for task_id in [
            t.task_id for t in self._tasks.values() if t.leaves_at is not None and t.leaves_at <= now
        ]:
            del self._tasks[task_id]

    def running_count(self, now: float) -> int:
        """Tasks in RUNNING, draining ones included (ECS's runningCount)."""
        return sum(1 for t in self._tasks.values() if now >= t.running_at)

    def views(self, now: float) -> list[TaskView]:
        return [
            TaskView(t.task_id, t.status(now), healthy=now >= t.running_at, started_at=t.started_at)
            for t in self._tasks.values()
        ]

    def apply(self, actions: ReconcileActions, now: float) -> None:
        self.launch(actions.start, now)
        for task_id in actions.stop:
            task = self._tasks[task_id]
            pending = now < task.running_at
            task.leaves_at = now if pending else now + self.deregistration_delay
        self.advance(now)

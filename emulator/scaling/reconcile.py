"""ECS's deployment arithmetic (one copy), and simulate's task-count decision until `emulator.sim` runs the one
scheduler (reference 4.2-4.5).

`maximum_tasks` and `minimum_healthy_tasks` are ECS's rounding of MaximumPercent / MinimumHealthyPercent;
`emulator.ecs.rolling` (the service scheduler's plan, a room above this one) uses them. `reconcile` is the
simulator's older decision over its own task views: delete it once `emulator.sim` drives
`emulator.ecs.ServiceScheduler`.

Tasks already draining are on their way out and are not counted. In steady state the scheduler starts
the missing tasks or stops the extra ones (PENDING first, then unhealthy, then the newest). During a
rolling deployment (tasks of an older task definition are still active) it starts new tasks up to
`floor(desired x MaximumPercent / 100)` tasks in all, and stops old tasks while
`ceil(desired x MinimumHealthyPercent / 100)` healthy tasks remain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from emulator.model import DeploymentConfiguration

TaskStatus = Literal["PENDING", "RUNNING", "DRAINING"]


@dataclass(frozen=True)
class TaskView:
    task_id: str
    status: TaskStatus
    healthy: bool = True  # RUNNING and healthy in the target group
    current: bool = True  # runs the service's current task definition
    started_at: float = 0.0


@dataclass(frozen=True)
class ReconcileActions:
    start: int  # new tasks of the current task definition
    stop: tuple[str, ...]  # task ids to deregister, drain, then stop (PENDING ones stop at once)


def maximum_tasks(desired: int, maximum_percent: int) -> int:
    """RUNNING + PENDING upper limit, rounded down (200 % of 4 = 8; 125 % of 3 = 3)."""
    return desired * maximum_percent // 100


def minimum_healthy_tasks(desired: int, minimum_healthy_percent: int) -> int:
    """Healthy RUNNING lower limit, rounded up (50 % of 4 = 2; 75 % of 2 = 2)."""
    return math.ceil(desired * minimum_healthy_percent / 100)


def deployment_in_progress(tasks: Sequence[TaskView]) -> bool:
    return any(not t.current and t.status != "DRAINING" for t in tasks)


def _stop_order(task: TaskView) -> tuple[int, int, float]:
    """PENDING first, then unhealthy, then the newest."""
    return (0 if task.status == "PENDING" else 1, 1 if task.healthy else 0, -task.started_at)


def _counts_healthy(task: TaskView) -> bool:
    return task.status == "RUNNING" and task.healthy


def reconcile(desired: int, tasks: Sequence[TaskView], config: DeploymentConfiguration) -> ReconcileActions:
    active = [t for t in tasks if t.status != "DRAINING"]
    if not deployment_in_progress(tasks):
        if len(active) < desired:
            return ReconcileActions(desired - len(active), ())
        extra = sorted(active, key=_stop_order)[: len(active) - desired]
        return ReconcileActions(0, tuple(t.task_id for t in extra))
    return _rolling(desired, tasks, config)


def _rolling(desired: int, tasks: Sequence[TaskView], config: DeploymentConfiguration) -> ReconcileActions:
    """Start new tasks within MaximumPercent (draining tasks still count: they are RUNNING), stop old
    ones while MinimumHealthyPercent holds."""
    active = [t for t in tasks if t.status != "DRAINING"]
    current = sorted((t for t in active if t.current), key=_stop_order)
    old = sorted((t for t in active if not t.current), key=_stop_order)
    stop = [t.task_id for t in current[: max(0, len(current) - desired)]]
    healthy = sum(1 for t in active if _counts_healthy(t) and t.task_id not in stop)
    floor = minimum_healthy_tasks(desired, config.minimum_healthy_percent)
    for task in old:
        if _counts_healthy(task):
            if healthy - 1 < floor:
                continue
            healthy -= 1
        stop.append(task.task_id)
    kept_current = min(len(current), desired)
    # tasks told to stop still count while they drain; PENDING ones stop at once
    stopped_pending = sum(1 for t in active if t.task_id in stop and t.status == "PENDING")
    room = maximum_tasks(desired, config.maximum_percent) - (len(tasks) - stopped_pending)
    return ReconcileActions(max(0, min(desired - kept_current, room)), tuple(stop))

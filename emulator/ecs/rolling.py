"""Which tasks the ECS service scheduler launches and stops: one pure plan for steady state and rolling updates.

AWS rules (shared/reference/aws-scaling-semantics.md §4.5; ECS Developer Guide "Deploy Amazon ECS services by
replacing tasks" (rolling update); ECS API reference `DeploymentConfiguration`):

- `maximumPercent` is the upper limit of RUNNING + PENDING tasks (tasks still stopping count: they are still
  there) as a percentage of the desired count, rounded down: 200 % of 4 = 8; 125 % of 3 = 3, so no extra
  task can start and an old task must stop first.
- `minimumHealthyPercent` is the lower limit of healthy RUNNING tasks, rounded up: 50 % of 4 = 2; 75 % of 2 =
  2, so no healthy task can be stopped until a new one is healthy.
- Tasks of older deployments are stopped while the healthy floor holds (the ones that serve nobody, not yet
  RUNNING or unhealthy, at once); the PRIMARY deployment gets new tasks while the ceiling leaves room.
- Scale-in stops tasks that are not yet RUNNING first, then unhealthy ones, then the newest (the emulator has
  a single Availability Zone, so ECS's AZ balancing has nothing to choose).

The rounding itself is `emulator.scaling.reconcile`'s (one copy). The same plan runs a fresh service's first deployment and steady state: they are a rolling update with no
older tasks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from emulator.scaling.reconcile import maximum_tasks, minimum_healthy_tasks

__all__ = ["Candidate", "Plan", "circuit_breaker_threshold", "maximum_tasks", "minimum_healthy_tasks", "plan"]


@dataclass(frozen=True)
class Candidate:
    """A task that is not stopping, as the plan sees it."""

    task_id: str
    primary: bool  # launched for the PRIMARY deployment
    running: bool  # lastStatus RUNNING (else PROVISIONING / PENDING)
    healthy: bool  # RUNNING and healthy in the target group (or no target group)
    started_at: float  # creation time for a task not yet RUNNING; newest = largest


@dataclass(frozen=True)
class Plan:
    launch: int  # new tasks of the PRIMARY deployment's revision
    stop: tuple[str, ...]  # task ids to stop, in ECS's order


def circuit_breaker_threshold(desired: int) -> int:
    """Failed tasks that trip the deployment circuit breaker: 0.5 x desired count, at least 3, at most 200
    (ECS API reference `ServiceDeploymentCircuitBreaker.threshold`; "How the Amazon ECS deployment circuit
    breaker detects failures"). The documents do not say how a half task rounds: up, here (desired 7 -> 4)."""
    return min(200, max(3, math.ceil(desired * 0.5)))


def stop_order(task: Candidate) -> tuple[int, int, float]:
    """Not yet RUNNING first (they serve nobody), then unhealthy, then the newest."""
    return (0 if not task.running else 1, 1 if task.healthy else 0, -task.started_at)


def plan(
    desired: int,
    tasks: Sequence[Candidate],
    stopping: int,
    *,
    maximum_percent: int,
    minimum_healthy_percent: int,
    launch_allowed: bool = True,
    stop_old: bool = True,
) -> Plan:
    """What to launch and stop now. `tasks` are those not stopping; `stopping` counts those on their way out
    (DEACTIVATING, STOPPING), which still count toward `maximumPercent`.

    `launch_allowed=False` and `stop_old=False`: a deployment the circuit breaker failed "stops launching new
    tasks" (ECS API reference `DeploymentCircuitBreaker`) and is stalled.
    """
    primary = sorted((t for t in tasks if t.primary), key=stop_order)
    old = sorted((t for t in tasks if not t.primary), key=stop_order)
    surplus = max(0, len(primary) - desired)
    stop = [t.task_id for t in primary[:surplus]]
    stopped = set(stop)
    if stop_old:
        healthy = sum(1 for t in tasks if t.healthy and t.task_id not in stopped)
        floor = minimum_healthy_tasks(desired, minimum_healthy_percent)
        for task in old:
            if task.healthy:
                if healthy - 1 < floor:
                    continue
                healthy -= 1
            stop.append(task.task_id)
    if not launch_allowed:
        return Plan(0, tuple(stop))
    # the tasks told to stop now are still there until they have exited (a PENDING one is killed at once)
    ceiling = max(desired, maximum_tasks(desired, maximum_percent))
    room = ceiling - (len(tasks) + stopping)
    need = desired - (len(primary) - surplus)
    return Plan(max(0, min(need, room)), tuple(stop))

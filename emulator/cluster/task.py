"""A task: one chat worker, with the ECS task lifecycle (`lastStatus`) and what stopped it.

ECS lifecycle (ECS-LIFE): PROVISIONING -> PENDING -> ACTIVATING -> RUNNING -> DEACTIVATING -> STOPPING ->
DEPROVISIONING -> STOPPED. The emulator has no ENI to attach, so ACTIVATING and DEPROVISIONING pass
instantly and are not shown; target-group registration happens on RUNNING, deregistration on DEACTIVATING.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal

TaskStatus = Literal["PROVISIONING", "PENDING", "RUNNING", "DEACTIVATING", "STOPPING", "STOPPED"]
DesiredStatus = Literal["RUNNING", "STOPPED"]

#: Tasks the service scheduler counts toward the desired count (not on their way out).
ACTIVE_STATUSES: frozenset[TaskStatus] = frozenset({"PROVISIONING", "PENDING", "RUNNING"})
#: ECS `pendingCount` counts tasks that are not yet RUNNING.
PENDING_STATUSES: frozenset[TaskStatus] = frozenset({"PROVISIONING", "PENDING"})

# Stopped reasons, in ECS's own words where ECS has them.
REASON_SCALING_IN = "Scaling activity initiated by (deployment ecs-svc)"
REASON_EXITED = "Essential container in task exited"
REASON_UNHEALTHY = "Task failed ELB health checks"
REASON_START_FAILED = "Task failed to start"
REASON_SHUTDOWN = "Emulator shutting down"
REASON_USER = "Task stopped by user"


def new_task_id() -> str:
    """An ECS-like task id: 32 hex digits."""
    return secrets.token_hex(16)


@dataclass
class Task:
    """One ECS task of the service. Mutable: the cluster moves it through its lifecycle."""

    task_id: str
    created_at: float
    sequence: int = 0  # launch order: breaks ties between tasks created at the same clock time
    status: TaskStatus = "PROVISIONING"
    desired_status: DesiredStatus = "RUNNING"
    host: str = "127.0.0.1"
    port: int = 0
    pid: int | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    stopped_reason: str | None = None
    exit_code: int | None = None
    history: list[tuple[float, TaskStatus]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The worker's own URL (not the load balancer's)."""
        return f"http://{self.host}:{self.port}"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES and self.desired_status == "RUNNING"

    def to_dict(self) -> dict[str, object]:
        return {
            "task_id": self.task_id,
            "last_status": self.status,
            "desired_status": self.desired_status,
            "url": self.url if self.port else None,
            "host": self.host,
            "port": self.port,
            "pid": self.pid,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "stopped_reason": self.stopped_reason,
            "exit_code": self.exit_code,
        }

"""The ECS service scheduler's vocabulary: what it reads, what the hands report, what it tells them, what it writes.

The scheduler (`emulator.ecs.scheduler.ServiceScheduler`) is sans-io: each `step(now, spec, reports, targets)` reads
the service as the account holds it (`ServiceSpec`), what the hands know of each task (`TaskReport`) and what the
target group says of each target (`TargetReport`), and returns `Command`s for the hands (the live cluster and load
balancer, or the simulated fleet) plus a `ServiceStatus` to write back into the account. Times are seconds on the
control loop's Clock; the account turns them into datetimes.

ECS words throughout: lastStatus, desiredStatus, deployments (PRIMARY / ACTIVE), rolloutState, stoppedReason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from emulator.model import ServiceDescription

LastStatus = Literal[
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
]
DesiredStatus = Literal["RUNNING", "STOPPED"]
HealthStatus = Literal["UNKNOWN", "HEALTHY", "UNHEALTHY"]
TargetHealthState = Literal["initial", "healthy", "unhealthy", "draining", "unused"]
DeploymentStatus = Literal["PRIMARY", "ACTIVE"]
RolloutState = Literal["IN_PROGRESS", "COMPLETED", "FAILED"]

# stoppedReason, in ECS's own words where ECS has them
REASON_SCALING_IN = "Scaling activity initiated by (deployment {deployment_id})"
REASON_DEPLOYMENT = "Scaling activity initiated by (deployment {deployment_id})"
REASON_EXITED = "Essential container in task exited"
REASON_UNHEALTHY = "Task failed ELB health checks in (target-group {target_group_arn})"
REASON_START_FAILED = "Task failed to start"
REASON_SHUTDOWN = "Emulator shutting down"
REASON_USER = "Task stopped by user"


# -- read from the account -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Revision:
    """A task definition revision: what a task runs. Tasks keep the revision they were launched with."""

    task_definition_arn: str
    environment: tuple[tuple[str, str], ...] = ()
    stop_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class ServiceSpec:
    """The service as the account holds it now; read before every step (a change is seen on the next one)."""

    service_name: str
    desired_count: int
    deployment_id: str  # the PRIMARY deployment in the account: a new id means "roll the service to it"
    revision: Revision  # the task definition of that deployment
    maximum_percent: int = 200
    minimum_healthy_percent: int = 100
    circuit_breaker_enable: bool = False
    circuit_breaker_rollback: bool = False
    health_check_grace_period_seconds: float = 0.0
    target_group_arn: str = ""


# -- reported by the hands -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskReport:
    """What the hands know of one task they launched."""

    task_id: str
    started: bool = False  # the worker accepts connections
    start_error: str | None = None  # it could not be started (the task stops with REASON_START_FAILED)
    exited: bool = False  # the worker's process has ended (on its own, or after Terminate / Kill)
    exit_code: int | None = None


@dataclass(frozen=True)
class TargetReport:
    """What the target group says of a registered (or formerly registered) target; absent = never registered
    or gone (`unused`)."""

    state: TargetHealthState
    reason: str | None = None
    description: str = ""


# -- told to the hands ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Launch:
    """Start a worker for a new task with the revision's environment (PROVISIONING -> PENDING)."""

    task_id: str
    revision: Revision


@dataclass(frozen=True)
class Register:
    """RegisterTargets: the task is RUNNING (the hands know its host and port)."""

    task_id: str


@dataclass(frozen=True)
class Deregister:
    """DeregisterTargets: the target drains (no new requests) until it is `unused`."""

    task_id: str


@dataclass(frozen=True)
class Terminate:
    """SIGTERM (docker stop): the worker shuts down gracefully."""

    task_id: str


@dataclass(frozen=True)
class Kill:
    """SIGKILL: after the task definition's stopTimeout, or at once on a forced stop."""

    task_id: str


@dataclass(frozen=True)
class Forget:
    """The task is STOPPED: the hands drop what they kept for it."""

    task_id: str


Command = Launch | Register | Deregister | Terminate | Kill | Forget


# -- written back into the account ---------------------------------------------------------------------
@dataclass(frozen=True)
class TaskState:
    """One task as DescribeTasks answers it."""

    task_id: str
    task_definition_arn: str
    deployment_id: str  # startedBy: "ecs-svc/..." of the deployment that launched it
    last_status: LastStatus
    desired_status: DesiredStatus
    health_status: HealthStatus
    created_at: float
    started_at: float | None = None
    stopping_at: float | None = None
    stopped_at: float | None = None
    stopped_reason: str | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class DeploymentState:
    """One entry of DescribeServices' deployments[] as the scheduler sees it."""

    deployment_id: str
    status: DeploymentStatus
    task_definition_arn: str
    desired_count: int
    pending_count: int
    running_count: int
    failed_tasks: int
    rollout_state: RolloutState
    rollout_state_reason: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class ServiceEvent:
    """One of DescribeServices' events (newest first), worded as ECS words them."""

    event_id: str
    created_at: float
    message: str


@dataclass(frozen=True)
class Rollback:
    """The circuit breaker tripped with rollback enabled: the account starts a new PRIMARY deployment of
    `task_definition_arn` (the last deployment that completed), and the failed one becomes ACTIVE."""

    failed_deployment_id: str
    task_definition_arn: str
    reason: str


@dataclass(frozen=True)
class ServiceStatus:
    """What the account answers after a step: counts, deployments (ACTIVE ones left out once drained),
    tasks (not yet STOPPED, plus the recently stopped ones), events (newest first, at most 100)."""

    running_count: int
    pending_count: int
    deployments: tuple[DeploymentState, ...]
    tasks: tuple[TaskState, ...]
    events: tuple[ServiceEvent, ...]
    rollback: Rollback | None = None

    @property
    def deployment_in_progress(self) -> bool:
        """A deployment is rolling (IN_PROGRESS). A FAILED one that stays next to the ACTIVE one it could not
        replace (circuit breaker without rollback) is stalled, not in progress."""
        return any(d.rollout_state == "IN_PROGRESS" for d in self.deployments)


def service_spec(service: ServiceDescription) -> ServiceSpec:
    """The scheduler's view of a `ServiceDescription` read from the account."""
    td, deployment = service.task_definition, service.deployment_configuration
    return ServiceSpec(
        service_name=service.service_name,
        desired_count=service.desired_count,
        deployment_id=service.primary_deployment_id,
        revision=Revision(td.task_definition_arn, td.environment, float(td.stop_timeout_seconds)),
        maximum_percent=deployment.maximum_percent,
        minimum_healthy_percent=deployment.minimum_healthy_percent,
        circuit_breaker_enable=deployment.circuit_breaker_enable,
        circuit_breaker_rollback=deployment.circuit_breaker_rollback,
        health_check_grace_period_seconds=float(service.health_check_grace_period_seconds),
        target_group_arn=service.target_group.target_group_arn,
    )

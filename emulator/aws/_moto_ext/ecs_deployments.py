"""ECS service deployments as ECS keeps them, over moto's Service (checked against moto 5.2.5).

AWS rules (ECS API reference, UpdateService / Deployment; ECS developer guide "Deploy Amazon ECS services by
replacing tasks"; reference §4.2, §6d):
- `desiredCount` changes do not start a deployment and do not change `runningCount` (moto jumps runningCount to
  the new desired count): the service reports the tasks that run, as the scheduler publishes them.
- A new task definition, or `forceNewDeployment`, starts a new PRIMARY deployment (`ecs-svc/<19 digits>`,
  rolloutState IN_PROGRESS, "ECS deployment ecs-svc/... in progress."); the previous PRIMARY becomes ACTIVE and
  is removed once drained. The service's taskDefinition is the PRIMARY deployment's.
- UpdateService's deploymentConfiguration replaces only the members it names (moto replaced the whole value).
- A circuit breaker rollback starts a new PRIMARY deployment of the last completed task definition; the failed
  deployment stays ACTIVE with rolloutState FAILED (ECS "Deployment circuit breaker").

Callers hold `dispatch.LOCK` (moto's own requests already do).
"""

from __future__ import annotations

import functools
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.ecs.models import EC2ContainerServiceBackend, Service

from emulator.ecs.model import DeploymentState, Rollback, ServiceEvent, ServiceStatus

MAX_EVENTS = 100  # DescribeServices returns the 100 most recent events


def new_deployment_id() -> str:
    """An ECS deployment id: "ecs-svc/" and 19 digits."""
    return f"ecs-svc/{10**18 + secrets.randbelow(9 * 10**18)}"


def in_progress_reason(deployment_id: str) -> str:
    return f"ECS deployment {deployment_id} in progress."


def primary(service: Service) -> dict[str, Any] | None:
    """The PRIMARY deployment (first in deployments[]), if any."""
    return next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)


def start_deployment(service: Service, task_definition_arn: str, now: datetime) -> dict[str, Any]:
    """A new PRIMARY deployment of `task_definition_arn`; the previous PRIMARY becomes ACTIVE."""
    previous = primary(service)
    for deployment in service.deployments:
        deployment["status"] = "ACTIVE"
    deployment_id = new_deployment_id()
    deployment = {
        **{k: v for k, v in (previous or {}).items() if k in _KEPT_KEYS},
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition_arn,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": in_progress_reason(deployment_id),
        "createdAt": now,
        "updatedAt": now,
        "launchType": service.launch_type,
    }
    service.deployments.insert(0, deployment)
    service.task_definition = task_definition_arn
    return deployment


_KEPT_KEYS = ("platformVersion", "platformFamily", "networkConfiguration")


def set_desired_count(service: Service, n: int) -> None:
    """What Application Auto Scaling does: desiredCount only (the PRIMARY deployment's follows it)."""
    service.desired_count = n
    current = primary(service)
    if current is not None:
        current["desiredCount"] = n


def publish(service: Service, status: ServiceStatus, at: Callable[[float], datetime]) -> None:
    """Counts, deployments and events as the scheduler last saw them; then its rollback, if any.

    Which deployment is PRIMARY stays the account's: one started through the API since the scheduler's last
    read is kept although the status does not name it yet; an ACTIVE one the status leaves out has drained.
    """
    service.running_count, service.pending_count = status.running_count, status.pending_count
    published = {d.deployment_id: d for d in status.deployments}
    kept: list[dict[str, Any]] = []
    deployments: list[dict[str, Any]] = service.deployments
    for deployment in deployments:
        state = published.get(str(deployment["id"]))
        if state is not None:
            _update(deployment, state, service, at)
            kept.append(deployment)
        elif deployment.get("status") == "PRIMARY":
            kept.append(deployment)
    service.deployments = kept
    service.events = _merged_events(service.events, status.events, at)
    if status.rollback is not None:
        moments = [d.updated_at for d in status.deployments]
        now = at(max(moments)) if moments else datetime.now(UTC)
        roll_back(service, status.rollback, now)


def roll_back(service: Service, rollback: Rollback, now: datetime) -> None:
    """Apply a circuit breaker rollback once: only while the failed deployment is still PRIMARY."""
    failed = primary(service)
    if failed is None or failed["id"] != rollback.failed_deployment_id:
        return
    new = start_deployment(service, rollback.task_definition_arn, now)
    failed["rolloutState"], failed["rolloutStateReason"], failed["updatedAt"] = "FAILED", rollback.reason, now
    message = (
        f"(service {service.name}) (deployment {failed['id']}) deployment failed: {rollback.reason} "
        f"Rolling back to {rollback.task_definition_arn} in deployment {new['id']}."
    )
    service.events = _merged_events(
        service.events, (ServiceEvent(str(uuid.uuid4()), 0.0, message),), lambda _: now
    )


def _update(
    deployment: dict[str, Any], state: DeploymentState, service: Service, at: Callable[[float], datetime]
) -> None:
    is_primary = deployment.get("status") == "PRIMARY"
    failed = deployment.get("rolloutState") == "FAILED"  # a failed rollout stays failed
    deployment.update(
        desiredCount=service.desired_count if is_primary else state.desired_count,
        pendingCount=state.pending_count,
        runningCount=state.running_count,
        failedTasks=state.failed_tasks,
        rolloutState="FAILED" if failed else state.rollout_state,
        rolloutStateReason=deployment["rolloutStateReason"] if failed else state.rollout_state_reason,
        createdAt=at(state.created_at),
        updatedAt=at(state.updated_at),
    )


def _merged_events(
    current: list[dict[str, Any]], new: tuple[ServiceEvent, ...], at: Callable[[float], datetime]
) -> list[dict[str, Any]]:
    by_id = {e["id"]: e for e in current}
    for event in new:
        by_id.setdefault(
            event.event_id,
            {"id": event.event_id, "createdAt": at(event.created_at), "message": event.message},
        )
    events = sorted(by_id.values(), key=lambda e: _aware(e["createdAt"]), reverse=True)
    return events[:MAX_EVENTS]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- moto's UpdateService / CreateService, for the API and CloudFormation alike --------------------------------
def patch_backend() -> None:
    """Make moto's UpdateService and CreateService keep ECS's deployment rules (idempotent)."""
    original_update = EC2ContainerServiceBackend.update_service
    if getattr(original_update, "_emulator_patched", False):
        return
    original_create = EC2ContainerServiceBackend.create_service

    @functools.wraps(original_update)
    def update_service(self: EC2ContainerServiceBackend, service_properties: dict[str, Any]) -> Service:
        props = dict(service_properties)
        cluster = self._get_cluster(props.get("cluster", "default"))
        service = self._get_service(cluster.name, str(props["service"]).split("/")[-1])
        force = bool(props.pop("force_new_deployment", False))
        task_definition_str = props.pop("task_definition", None)
        arn = self.describe_task_definition(task_definition_str).arn if task_definition_str else None
        config = props.get("deployment_configuration")
        if isinstance(config, dict):
            props["deployment_configuration"] = {
                **(getattr(service, "deployment_configuration", None) or {}),
                **config,
            }
        counts = (service.running_count, service.pending_count)
        cluster_counts = (cluster.running_tasks_count, cluster.pending_tasks_count)
        updated: Service = original_update(self, props)
        updated.running_count, updated.pending_count = counts
        cluster.running_tasks_count, cluster.pending_tasks_count = cluster_counts
        if force or (arn is not None and arn != updated.task_definition):
            start_deployment(updated, arn or str(updated.task_definition), datetime.now(UTC))
        else:
            set_desired_count(updated, updated.desired_count)
        return updated

    @functools.wraps(original_create)
    def create_service(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Service:
        service: Service = original_create(self, *args, **kwargs)
        current = primary(service)
        if current is not None:  # moto's id has fewer digits than ECS's
            current["id"] = new_deployment_id()
            current["rolloutStateReason"] = in_progress_reason(current["id"])
            current["rolloutState"] = "IN_PROGRESS"
            current["createdAt"] = current["updatedAt"] = datetime.now(UTC)
        return service

    update_service._emulator_patched = True  # type: ignore[attr-defined]
    EC2ContainerServiceBackend.update_service = update_service  # type: ignore[method-assign]
    EC2ContainerServiceBackend.create_service = create_service  # type: ignore[method-assign]

"""What ECS says: service event messages, rolloutStateReason, stoppedReason.

Worded as ECS words them in DescribeServices' `events` and `deployments[].rolloutStateReason` (ECS Developer
Guide "Amazon ECS service event messages" and "How the Amazon ECS deployment circuit breaker detects
failures"); `stoppedReason` strings live in `emulator.ecs.model`.
"""

from __future__ import annotations

from collections.abc import Sequence

CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."


def _tasks(task_ids: Sequence[str]) -> str:
    return " ".join(f"(task {task_id})" for task_id in task_ids)


def started(service: str, task_ids: Sequence[str]) -> str:
    return f"(service {service}) has started {len(task_ids)} tasks: {_tasks(task_ids)}."


def stopped(service: str, task_ids: Sequence[str]) -> str:
    return f"(service {service}) has stopped {len(task_ids)} running tasks: {_tasks(task_ids)}."


def draining(service: str, count: int) -> str:
    return f"(service {service}) has begun draining connections on {count} tasks."


def registered(service: str, count: int, target_group_arn: str) -> str:
    return f"(service {service}) registered {count} targets in (target-group {target_group_arn})"


def deregistered(service: str, count: int, target_group_arn: str) -> str:
    return f"(service {service}) deregistered {count} targets in (target-group {target_group_arn})"


def unhealthy(service: str, task_id: str, target_group_arn: str) -> str:
    return (
        f"(service {service}) (task {task_id}) is unhealthy in (target-group {target_group_arn}) "
        "due to (reason Health checks failed)."
    )


def deployment_completed(service: str, deployment_id: str) -> str:
    return f"(service {service}) (deployment {deployment_id}) deployment completed."


def steady_state(service: str) -> str:
    return f"(service {service}) has reached a steady state."


def deployment_failed(service: str, deployment_id: str) -> str:
    return f"(service {service}) (deployment {deployment_id}) deployment failed: tasks failed to start."


def rolling_back(service: str, deployment_id: str) -> str:
    return f"(service {service}) rolling back to deployment {deployment_id}."


def rollout_in_progress(deployment_id: str) -> str:
    return f"ECS deployment {deployment_id} in progress."


def rollout_completed(deployment_id: str) -> str:
    return f"ECS deployment {deployment_id} completed."

"""ECS through boto3 answers what the scheduler published: counts, deployments, events, tasks, rollbacks.

UpdateService and stack updates start deployments as ECS does; `aws ecs wait services-stable` works.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import WaiterError

from emulator.aws import EmulatedAccount
from emulator.ecs.model import (
    REASON_SCALING_IN,
    DeploymentState,
    Rollback,
    ServiceEvent,
    ServiceStatus,
    TaskState,
)

EPOCH = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DEPLOYMENT_ID = re.compile(r"^ecs-svc/\d{19}$")


def at(seconds: float) -> datetime:
    """Clock seconds -> datetime, as the control loop's `at`."""
    return EPOCH + timedelta(seconds=seconds)


def deployment(
    deployment_id: str,
    task_definition_arn: str,
    *,
    status: Any = "PRIMARY",
    desired: int = 2,
    running: int = 2,
    pending: int = 0,
    failed: int = 0,
    rollout: Any = "COMPLETED",
    when: float = 10.0,
) -> DeploymentState:
    word = "completed" if rollout == "COMPLETED" else "in progress"
    return DeploymentState(
        deployment_id,
        status,
        task_definition_arn,
        desired,
        pending,
        running,
        failed,
        rollout,
        f"ECS deployment {deployment_id} {word}.",
        0.0,
        when,
    )


def running_task(task_id: str, task_definition_arn: str, deployment_id: str) -> TaskState:
    return TaskState(
        task_id,
        task_definition_arn,
        deployment_id,
        "RUNNING",
        "RUNNING",
        "HEALTHY",
        created_at=1.0,
        started_at=5.0,
    )


def stopped_task(task_id: str, task_definition_arn: str, deployment_id: str, reason: str) -> TaskState:
    return TaskState(
        task_id,
        task_definition_arn,
        deployment_id,
        "STOPPED",
        "STOPPED",
        "UNKNOWN",
        created_at=1.0,
        started_at=5.0,
        stopping_at=20.0,
        stopped_at=30.0,
        stopped_reason=reason,
        exit_code=0,
    )


def service_status(
    *deployments: DeploymentState,
    tasks: tuple[TaskState, ...] = (),
    events: tuple[ServiceEvent, ...] = (),
    rollback: Rollback | None = None,
) -> ServiceStatus:
    running = sum(d.running_count for d in deployments)
    pending = sum(d.pending_count for d in deployments)
    return ServiceStatus(running, pending, deployments, tasks, events, rollback)


def describe(account: EmulatedAccount) -> dict[str, Any]:
    answer = account.client("ecs").describe_services(
        cluster=account.cluster_name, services=[account.service_name]
    )
    service: dict[str, Any] = answer["services"][0]
    return service


def new_revision(account: EmulatedAccount, **environment: str) -> str:
    """RegisterTaskDefinition: the service's task definition with `environment` added (a new revision)."""
    ecs = account.client("ecs")
    current = ecs.describe_task_definition(taskDefinition=describe(account)["taskDefinition"])[
        "taskDefinition"
    ]
    containers = current["containerDefinitions"]
    containers[0]["environment"] = containers[0].get("environment", []) + [
        {"name": k, "value": v} for k, v in environment.items()
    ]
    registered = ecs.register_task_definition(
        family=current["family"],
        containerDefinitions=containers,
        cpu=current["cpu"],
        memory=current["memory"],
        networkMode=current["networkMode"],
        requiresCompatibilities=current["requiresCompatibilities"],
    )
    return str(registered["taskDefinition"]["taskDefinitionArn"])


def test_describe_services_answers_the_published_counts_deployments_and_events(
    either: EmulatedAccount,
) -> None:
    """Through mock_aws and the server: a rolling deployment as published, then the drained one removed."""
    old = either.read_service()
    either.client("ecs").update_service(
        cluster=either.cluster_name, service=either.service_name, forceNewDeployment=True
    )
    new_id = either.read_service().primary_deployment_id
    td = old.task_definition.task_definition_arn
    events = (
        ServiceEvent("e2", 12.0, f"(service chat) has started 1 tasks: (task t3). (deployment {new_id})"),
        ServiceEvent("e1", 2.0, "(service chat) has started 2 tasks: (task t1) (task t2)."),
    )

    either.publish_service_status(
        service_status(
            deployment(new_id, td, running=1, pending=1, rollout="IN_PROGRESS", when=12.0),
            deployment(old.primary_deployment_id, td, status="ACTIVE", running=2, when=12.0),
            events=events,
        ),
        at,
    )
    rolling = describe(either)

    assert (rolling["desiredCount"], rolling["runningCount"], rolling["pendingCount"]) == (2, 3, 1)
    assert [
        (d["id"], d["status"], d["runningCount"], d["pendingCount"], d["rolloutState"], d["launchType"])
        for d in rolling["deployments"]
    ] == [
        (new_id, "PRIMARY", 1, 1, "IN_PROGRESS", "FARGATE"),
        (old.primary_deployment_id, "ACTIVE", 2, 0, "COMPLETED", "FARGATE"),
    ]
    assert rolling["deployments"][0]["updatedAt"] == at(12.0)
    assert [(e["id"], e["createdAt"]) for e in rolling["events"]] == [("e2", at(12.0)), ("e1", at(2.0))]

    either.publish_service_status(service_status(deployment(new_id, td, when=40.0)), at)
    drained = describe(either)

    assert [(d["id"], d["rolloutState"]) for d in drained["deployments"]] == [(new_id, "COMPLETED")]
    assert (drained["runningCount"], drained["pendingCount"]) == (2, 0)


def test_update_service_desired_count_does_not_jump_running_count(account: EmulatedAccount) -> None:
    """AWS reports the tasks that run; the desired count alone starts no deployment."""
    before = account.read_service()
    td = before.task_definition.task_definition_arn
    account.publish_service_status(service_status(deployment(before.primary_deployment_id, td)), at)

    answer = account.client("ecs").update_service(
        cluster=account.cluster_name, service=account.service_name, desiredCount=5
    )["service"]
    after = describe(account)

    assert (answer["desiredCount"], answer["runningCount"], answer["pendingCount"]) == (5, 2, 0)
    assert (after["desiredCount"], after["runningCount"]) == (5, 2)
    assert [(d["id"], d["desiredCount"]) for d in after["deployments"]] == [(before.primary_deployment_id, 5)]
    assert account.read_service().desired_count == 5


def test_a_new_task_definition_revision_starts_a_new_primary_deployment(account: EmulatedAccount) -> None:
    before = account.read_service()
    revision = new_revision(account, FEATURE="on")

    account.client("ecs").update_service(
        cluster=account.cluster_name, service=account.service_name, taskDefinition=revision
    )
    service = describe(account)
    primary, active = service["deployments"]
    after = account.read_service()

    assert DEPLOYMENT_ID.match(primary["id"]) and primary["id"] != before.primary_deployment_id
    assert (primary["status"], primary["taskDefinition"], primary["rolloutState"]) == (
        "PRIMARY",
        revision,
        "IN_PROGRESS",
    )
    assert primary["rolloutStateReason"] == f"ECS deployment {primary['id']} in progress."
    assert (active["id"], active["status"]) == (before.primary_deployment_id, "ACTIVE")
    assert service["taskDefinition"] == revision
    assert (after.primary_deployment_id, after.task_definition.task_definition_arn) == (
        primary["id"],
        revision,
    )
    assert ("FEATURE", "on") in after.task_definition.environment


def test_force_new_deployment_starts_a_new_primary_of_the_same_revision(account: EmulatedAccount) -> None:
    before = account.read_service()

    account.client("ecs").update_service(
        cluster=account.cluster_name, service=account.service_name, forceNewDeployment=True
    )
    deployments = describe(account)["deployments"]

    assert [d["status"] for d in deployments] == ["PRIMARY", "ACTIVE"]
    assert deployments[0]["id"] != before.primary_deployment_id
    assert {d["taskDefinition"] for d in deployments} == {before.task_definition.task_definition_arn}
    assert account.read_service().primary_deployment_id == deployments[0]["id"]


def test_a_stack_update_that_changes_the_task_definition_starts_a_deployment(
    account: EmulatedAccount,
) -> None:
    before = account.read_service()

    account.update({"PingInterval": 5})
    after = account.read_service()
    deployments = describe(account)["deployments"]

    assert after.primary_deployment_id != before.primary_deployment_id
    assert after.task_definition.task_definition_arn != before.task_definition.task_definition_arn
    assert ("PING_INTERVAL", "5") in after.task_definition.environment
    assert [(d["id"], d["status"]) for d in deployments] == [
        (after.primary_deployment_id, "PRIMARY"),
        (before.primary_deployment_id, "ACTIVE"),
    ]


def test_a_stack_update_that_keeps_the_task_definition_starts_no_deployment(account: EmulatedAccount) -> None:
    before = account.read_service()

    account.update({"MaxCapacity": 8})

    assert account.read_service().primary_deployment_id == before.primary_deployment_id
    assert len(describe(account)["deployments"]) == 1


def test_deployment_configuration_changes_are_stored_and_read(account: EmulatedAccount) -> None:
    """UpdateService replaces only the members it names; read_service sees the circuit breaker."""
    account.client("ecs").update_service(
        cluster=account.cluster_name,
        service=account.service_name,
        deploymentConfiguration={
            "maximumPercent": 150,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
    )
    config = account.read_service().deployment_configuration

    assert (config.maximum_percent, config.minimum_healthy_percent) == (150, 75)
    assert (config.circuit_breaker_enable, config.circuit_breaker_rollback) == (True, True)
    assert len(describe(account)["deployments"]) == 1


def test_a_rollback_starts_a_primary_of_the_last_completed_revision(account: EmulatedAccount) -> None:
    before = account.read_service()
    good = before.task_definition.task_definition_arn
    bad = new_revision(account, BROKEN="yes")
    account.client("ecs").update_service(
        cluster=account.cluster_name, service=account.service_name, taskDefinition=bad
    )
    failed_id = account.read_service().primary_deployment_id
    reason = "ECS deployment circuit breaker: tasks failed to start."

    rollback = Rollback(failed_id, good, reason)
    published = service_status(
        deployment(failed_id, bad, running=0, failed=10, rollout="IN_PROGRESS", when=50.0),
        deployment(before.primary_deployment_id, good, status="ACTIVE", when=50.0),
        rollback=rollback,
    )
    account.publish_service_status(published, at)
    account.publish_service_status(published, at)  # published twice: applied once
    service = describe(account)
    after = account.read_service()

    assert [(d["status"], d["taskDefinition"], d["rolloutState"]) for d in service["deployments"]] == [
        ("PRIMARY", good, "IN_PROGRESS"),
        ("ACTIVE", bad, "FAILED"),
        ("ACTIVE", good, "COMPLETED"),  # its tasks still run
    ]
    assert service["deployments"][1]["rolloutStateReason"] == reason
    assert service["taskDefinition"] == good
    assert failed_id in service["events"][0]["message"] and "Rolling back" in service["events"][0]["message"]
    assert after.task_definition.task_definition_arn == good
    assert after.primary_deployment_id == service["deployments"][0]["id"]
    assert ("BROKEN", "yes") not in after.task_definition.environment


def test_list_and_describe_tasks_answer_the_published_tasks(either: EmulatedAccount) -> None:
    """One task per published TaskState; stopped tasks only with --desired-status STOPPED."""
    service = either.read_service()
    td, dep = service.task_definition.task_definition_arn, service.primary_deployment_id
    reason = REASON_SCALING_IN.format(deployment_id=dep)
    either.publish_service_status(
        service_status(
            deployment(dep, td),
            tasks=(
                running_task("aaa1", td, dep),
                running_task("aaa2", td, dep),
                stopped_task("bbb3", td, dep, reason),
            ),
        ),
        at,
    )
    ecs = either.client("ecs")

    running = ecs.list_tasks(cluster=either.cluster_name, serviceName=either.service_name)["taskArns"]
    stopped = ecs.list_tasks(
        cluster=either.cluster_name, serviceName=either.service_name, desiredStatus="STOPPED"
    )["taskArns"]
    described = {
        t["taskArn"].split("/")[-1]: t
        for t in ecs.describe_tasks(cluster=either.cluster_name, tasks=[*running, "bbb3"])["tasks"]
    }
    missing = ecs.describe_tasks(cluster=either.cluster_name, tasks=["nope"])["failures"]

    prefix = f"arn:aws:ecs:{either.region}:{either.account_id}:task/{either.cluster_name}/"
    assert sorted(running) == [prefix + "aaa1", prefix + "aaa2"]
    assert stopped == [prefix + "bbb3"]
    first, gone = described["aaa1"], described["bbb3"]
    assert (first["lastStatus"], first["desiredStatus"], first["healthStatus"]) == (
        "RUNNING",
        "RUNNING",
        "HEALTHY",
    )
    assert (first["taskDefinitionArn"], first["startedBy"], first["group"], first["launchType"]) == (
        td,
        dep,
        "service:chat",
        "FARGATE",
    )
    assert (first["createdAt"], first["startedAt"]) == (at(1.0), at(5.0))
    assert first["clusterArn"].endswith(f":cluster/{either.cluster_name}")
    assert (gone["lastStatus"], gone["desiredStatus"], gone["stoppedReason"]) == (
        "STOPPED",
        "STOPPED",
        reason,
    )
    assert (gone["stoppingAt"], gone["stoppedAt"]) == (at(20.0), at(30.0))
    assert [(c["name"], c["exitCode"]) for c in gone["containers"]] == [("chat", 0)]
    assert missing == [{"arn": "nope", "reason": "MISSING"}]


def test_services_stable_waiter_returns_once_the_published_status_is_stable(account: EmulatedAccount) -> None:
    """boto3's waiter: one deployment and runningCount == desiredCount."""
    service = account.read_service()
    td, dep = service.task_definition.task_definition_arn, service.primary_deployment_id
    waiter = account.client("ecs").get_waiter("services_stable")
    once: Any = {"Delay": 1, "MaxAttempts": 1}

    account.publish_service_status(
        service_status(deployment(dep, td, running=1, pending=1, rollout="IN_PROGRESS")), at
    )
    with pytest.raises(WaiterError):
        waiter.wait(cluster=account.cluster_name, services=[account.service_name], WaiterConfig=once)

    account.publish_service_status(service_status(deployment(dep, td)), at)
    waiter.wait(cluster=account.cluster_name, services=[account.service_name], WaiterConfig=once)

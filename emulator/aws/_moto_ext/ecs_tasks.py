"""ECS ListTasks / DescribeTasks answered from the tasks the scheduler publishes (checked against moto 5.2.5).

moto has no service tasks (its RunTask tasks need a VPC with DNS hostnames and never belong to a service), so
the published `TaskState`s are kept here and the two responses answer them, before moto's own RunTask tasks.
AWS rules (ECS API reference, ListTasks / DescribeTasks / Task; reference §4.3): ListTasks filters by cluster,
serviceName, family, startedBy and desiredStatus, which defaults to RUNNING (stopped tasks are listed with
`--desired-status STOPPED`); DescribeTasks takes ARNs or ids and reports unknown ones as failures (MISSING).
A service's task has group "service:<name>", startedBy its deployment id, launchType FARGATE.
StopTask on a published task answers it with desiredStatus STOPPED and the reason given (default "Task stopped by
user"), and queues the request for the control loop (`take_stop_requests`), whose scheduler stops it in ECS's order
and lets the service replace it.

Published tasks live on moto's Service object (so a moto reset drops them), written and read under
`dispatch.LOCK`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.ecs.models import Service
from moto.ecs.responses import DESCRIBE_TASKS_TAGS, EC2ContainerServiceResponse

from emulator.aws._moto_ext.base import kept_on
from emulator.ecs.model import REASON_EXITED, REASON_START_FAILED, REASON_USER, TaskState

_ATTR = "emulator_tasks"  # on moto's Service: {task ARN: DescribeTasks' task}
_BY_USER = "emulator_stopped_by_user"  # on moto's Service: ids of the tasks a user's StopTask stopped
_STOPS = "emulator_stop_requests"  # on moto's ECS backend: [(task id, reason)] not yet taken by the loop


def take_stop_requests(backend: Any) -> list[tuple[str, str]]:
    """The StopTask requests made since the last call, oldest first (each reported once)."""
    requests: list[tuple[str, str]] = kept_on(backend, _STOPS, list)
    setattr(backend, _STOPS, [])
    return requests


def task_arn(region: str, account_id: str, cluster: str, task_id: str) -> str:
    return f"arn:aws:ecs:{region}:{account_id}:task/{cluster}/{task_id}"


def publish(
    service: Service,
    tasks: Iterable[TaskState],
    container_names: Callable[[str], list[str]],
    at: Callable[[float], datetime],
) -> None:
    """Replace the service's tasks with `tasks` (those the scheduler still reports)."""
    account_id, region, cluster = service._account_id, service.region_name, service.cluster_name
    described = {}
    by_user: set[str] = kept_on(service, _BY_USER, set)
    for task in tasks:
        arn = task_arn(region, account_id, cluster, task.task_id)
        described[arn] = _described(task, arn, service.cluster_arn, service.name, container_names, at)
        if task.task_id in by_user and task.desired_status == "STOPPED":
            described[arn]["stopCode"] = "UserInitiated"
    by_user.intersection_update(task.task_id for task in tasks)  # forget the tasks no longer listed
    setattr(service, _ATTR, described)


def _described(
    task: TaskState,
    arn: str,
    cluster_arn: str,
    service_name: str,
    container_names: Callable[[str], list[str]],
    at: Callable[[float], datetime],
) -> dict[str, Any]:
    def moment(seconds: float | None) -> datetime | None:
        return None if seconds is None else at(seconds)

    containers = [
        {
            "containerArn": f"{arn.replace(':task/', ':container/')}/{name}",
            "taskArn": arn,
            "name": name,
            "lastStatus": task.last_status,
            "healthStatus": task.health_status,
            **({"exitCode": task.exit_code} if task.exit_code is not None else {}),
        }
        for name in container_names(task.task_definition_arn)
    ]
    described: dict[str, Any] = {
        "taskArn": arn,
        "clusterArn": cluster_arn,
        "taskDefinitionArn": task.task_definition_arn,
        "lastStatus": task.last_status,
        "desiredStatus": task.desired_status,
        "healthStatus": task.health_status,
        "createdAt": at(task.created_at),
        "startedAt": moment(task.started_at),
        "stoppingAt": moment(task.stopping_at),
        "stoppedAt": moment(task.stopped_at),
        "stoppedReason": task.stopped_reason,
        "startedBy": task.deployment_id,
        "group": f"service:{service_name}",
        "launchType": "FARGATE",
        "containers": containers,
    }
    if task.desired_status == "STOPPED":
        described["stopCode"] = _stop_code(task.stopped_reason)
    return {k: v for k, v in described.items() if v is not None}


def _stop_code(reason: str | None) -> str:
    if reason == REASON_EXITED:
        return "EssentialContainerExited"
    if reason is not None and reason.startswith(REASON_START_FAILED):
        return "TaskFailedToStart"
    return "ServiceSchedulerInitiated"


def _published(backend: Any, cluster: str, service_name: str | None) -> list[dict[str, Any]]:
    return [
        task
        for service in list(backend.services.values())
        if service.cluster_name == cluster and (not service_name or service.name == service_name)
        for task in getattr(service, _ATTR, {}).values()
    ]


def patch_responses() -> None:
    """ListTasks and DescribeTasks answer the published tasks too (idempotent)."""
    original_list = EC2ContainerServiceResponse.list_tasks
    if getattr(original_list, "_emulator_patched", False):
        return

    @functools.wraps(original_list)
    def list_tasks(self: EC2ContainerServiceResponse) -> ActionResult:
        cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default")).name
        service_name = self._get_param("serviceName")
        if service_name:
            service_name = str(service_name).split("/")[-1]
        desired = self._get_param("desiredStatus") or "RUNNING"
        started_by, family = self._get_param("startedBy"), self._get_param("family")
        ours = [
            t["taskArn"]
            for t in _published(self.ecs_backend, cluster, service_name)
            if t["desiredStatus"] == desired
            and (not started_by or t["startedBy"] == started_by)
            and (not family or t["taskDefinitionArn"].split("/")[-1].split(":")[0] == family)
        ]
        theirs: list[str] = []
        if not service_name:  # moto's RunTask tasks belong to no service
            tasks = self.ecs_backend.list_tasks(
                cluster, self._get_param("containerInstance"), family, started_by, None, desired
            )
            theirs = [t.task_arn for t in tasks]
        return ActionResult({"taskArns": ours + theirs})

    @functools.wraps(EC2ContainerServiceResponse.describe_tasks)
    def describe_tasks(self: EC2ContainerServiceResponse) -> ActionResult:
        cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default")).name
        wanted = [str(t) for t in self._get_param("tasks", [])]
        if not wanted:
            self.ecs_backend.describe_tasks(cluster, wanted)  # moto's InvalidParameterException
        by_key: dict[str, dict[str, Any]] = {}
        for task in _published(self.ecs_backend, cluster, None):
            by_key[task["taskArn"]] = by_key[task["taskArn"].split("/")[-1]] = task
        ours = [by_key[w] for w in wanted if w in by_key]
        rest = [w for w in wanted if w not in by_key]
        theirs = self.ecs_backend.describe_tasks(cluster, rest) if rest else []
        found = {t.task_arn for t in theirs} | {t.task_arn.split("/")[-1] for t in theirs}
        if "TAGS" in (self._get_param("include", []) or []):
            self._include_in_response(DESCRIBE_TASKS_TAGS)
        else:
            self._exclude_from_response(DESCRIBE_TASKS_TAGS)
        failures = [{"arn": w, "reason": "MISSING"} for w in rest if w not in found]
        return ActionResult({"tasks": [*ours, *theirs], "failures": failures})

    @functools.wraps(EC2ContainerServiceResponse.stop_task)
    def stop_task(self: EC2ContainerServiceResponse) -> Any:
        cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default")).name
        wanted = str(self._get_param("task", ""))
        found = next(
            (
                t
                for t in _published(self.ecs_backend, cluster, None)
                if wanted in (t["taskArn"], t["taskArn"].split("/")[-1])
            ),
            None,
        )
        if found is None:
            return original_stop(self)
        reason = str(self._get_param("reason") or REASON_USER)
        task_id = found["taskArn"].split("/")[-1]
        requests: list[tuple[str, str]] = kept_on(self.ecs_backend, _STOPS, list)
        requests.append((task_id, reason))
        for service in list(self.ecs_backend.services.values()):
            if found["taskArn"] in getattr(service, _ATTR, {}):
                kept_on(service, _BY_USER, set).add(task_id)
        if found["desiredStatus"] == "RUNNING":
            found.update(desiredStatus="STOPPED", stoppedReason=reason, stopCode="UserInitiated")
        return ActionResult({"task": found})

    original_stop = EC2ContainerServiceResponse.stop_task
    list_tasks._emulator_patched = True  # type: ignore[attr-defined]
    EC2ContainerServiceResponse.stop_task = stop_task  # type: ignore[method-assign]
    EC2ContainerServiceResponse.list_tasks = list_tasks  # type: ignore[method-assign]
    EC2ContainerServiceResponse.describe_tasks = describe_tasks  # type: ignore[method-assign]

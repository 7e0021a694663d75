"""A started emulator seen the way a user sees it: its AWS endpoint through boto3, and the workers it really runs.

`emulated(...)` starts `chat-emulator up --isolation process` in this process (an `Emulator`, on free ports,
with its private redis-server) and stops it, forced, at the end. `Aws` holds the boto3 clients a user scripts
with (`EmulatedAccount.client`) and the few calls the acceptance tests of issue 10 make; every call runs in a
thread, so the emulator's event loop (proxy, health checks, control loop) keeps running while moto answers.
`workers()` finds the `python -m chat` processes this process started (their ECS_TASK_ID, PID, port and OS
environment, through psutil), as `ps` would show them on the machine.

ECS's rounding (aws-scaling-semantics.md §4.5): `minimum_healthy(desired, percent)` rounds up,
`maximum_tasks(desired, percent)` rounds down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
from conftest import missing

from emulator.supervisor import Emulator, EmulatorConfig

NOT_YET_RUNNING = ("PROVISIONING", "PENDING", "ACTIVATING")
SCALABLE_DIMENSION = "ecs:service:DesiredCount"


def minimum_healthy(desired: int, percent: int) -> int:
    """ECS: the floor of healthy tasks during a deployment, rounded up (75 % of 2 = 2)."""
    return math.ceil(desired * percent / 100)


def maximum_tasks(desired: int, percent: int) -> int:
    """ECS: the ceiling of RUNNING + PENDING tasks during a deployment, rounded down (125 % of 3 = 3)."""
    return math.floor(desired * percent / 100)


@contextlib.asynccontextmanager
async def emulated(tmp_path: Path, **config: Any) -> AsyncIterator[Emulator]:
    """A started emulator with OS-process workers and its own redis-server; stopped (forced) afterwards."""
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed (the emulator's private Redis)")
    settings: dict[str, Any] = {
        "port": 0,
        "isolation": "process",
        "time_scale": 20.0,
        "state_file": tmp_path / "state.json",
        **config,
    }
    emulator = Emulator(EmulatorConfig(**settings))
    try:
        await emulator.start()
        yield emulator
    finally:
        await emulator.shutdown(force=True)


async def eventually(what: str, check: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail naming `what` and the last answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}; last: {last!r}")
        await asyncio.sleep(every)


# -- the workers, as the machine shows them ---------------------------------------------------------------
@dataclass(frozen=True)
class Worker:
    """One `python -m chat` process: the task it runs (ECS_TASK_ID), where it listens, its OS environment."""

    task_id: str
    pid: int
    port: int
    environ: Mapping[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def workers(redis_address: str | None = None) -> dict[str, Worker]:
    """task id -> Worker, for every live chat worker this process started; with `redis_address` ("host:port"),
    only those of the deployment whose Redis (its ElastiCache endpoint) that is."""
    found: dict[str, Worker] = {}
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            env = child.environ()
        except psutil.Error:
            continue
        task_id = env.get("ECS_TASK_ID")
        redis = urlsplit(env.get("REDIS_URL", ""))
        if redis_address is not None and f"{redis.hostname}:{redis.port}" != redis_address:
            continue
        if task_id:
            found[task_id] = Worker(task_id, child.pid, int(env["PORT"]), env)
    return found


def alive(pid: int) -> bool:
    """The process exists and has not exited (os.kill(pid, 0); a zombie has exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def healthz(worker: Worker) -> tuple[int, str]:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{worker.url}/healthz")
        return response.status_code, response.text.strip()


async def handshake(worker: Worker) -> dict[str, Any]:
    """The worker's own Engine.IO handshake (an open packet "0{...}"): sid, pingInterval, pingTimeout..."""
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{worker.url}/socket.io/", params={"EIO": "4", "transport": "polling"})
        response.raise_for_status()
        body = response.text
        assert body.startswith("0"), body[:80]
        opened: dict[str, Any] = json.loads(body[1:])
        return opened


async def open_connections(worker: Worker) -> float:
    """chat_connections from the worker's /metrics: the Socket.IO connections it holds."""
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{worker.url}/metrics")
        for line in response.text.splitlines():
            if line.startswith("chat_connections "):
                return float(line.split()[1])
    raise AssertionError(f"no chat_connections in {worker.url}/metrics")


# -- the AWS API, as a user scripts it -------------------------------------------------------------------
def environment(container: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("environment", [])}


class Aws:
    """boto3 clients on the emulator's endpoint and the names `chat-emulator up` prints."""

    def __init__(self, emulator: Emulator) -> None:
        account = emulator.account
        self.ecs = account.client("ecs")
        self.elbv2 = account.client("elbv2")
        self.cloudwatch = account.client("cloudwatch")
        self.autoscaling = account.client("application-autoscaling")
        self.cluster: str = emulator.service.cluster_name
        self.service_name: str = emulator.service.service_name
        self.resource_id = f"service/{self.cluster}/{self.service_name}"
        self._redis_address: str | None = None

    async def workers(self) -> dict[str, Worker]:
        """This deployment's live workers: those whose Redis is the ElastiCache endpoint its task definition
        names (REDIS_ENDPOINT:REDIS_PORT; other emulators on the machine have Redis servers of their own)."""
        if self._redis_address is None:
            revision = await self.task_definition((await self.service())["taskDefinition"])
            env = environment(revision["containerDefinitions"][0])
            self._redis_address = f"{env['REDIS_ENDPOINT']}:{env['REDIS_PORT']}"
        return workers(self._redis_address)

    @staticmethod
    async def call(method: Callable[..., Any], **kwargs: Any) -> Any:
        return await asyncio.to_thread(method, **kwargs)

    # ECS
    async def service(self) -> dict[str, Any]:
        answer = await self.call(
            self.ecs.describe_services, cluster=self.cluster, services=[self.service_name]
        )
        assert not answer.get("failures"), answer["failures"]
        service: dict[str, Any] = answer["services"][0]
        return service

    async def update_service(self, **kwargs: Any) -> dict[str, Any]:
        answer = await self.call(
            self.ecs.update_service, cluster=self.cluster, service=self.service_name, **kwargs
        )
        service: dict[str, Any] = answer["service"]
        return service

    async def task_arns(self, desired_status: str = "RUNNING") -> list[str]:
        answer = await self.call(
            self.ecs.list_tasks,
            cluster=self.cluster,
            serviceName=self.service_name,
            desiredStatus=desired_status,
        )
        arns: list[str] = answer["taskArns"]
        return arns

    async def describe_tasks(self, arns: Sequence[str]) -> list[dict[str, Any]]:
        if not arns:
            return []
        answer = await self.call(self.ecs.describe_tasks, cluster=self.cluster, tasks=list(arns))
        assert not answer.get("failures"), answer["failures"]
        tasks: list[dict[str, Any]] = answer["tasks"]
        return tasks

    async def tasks(self, desired_status: str = "RUNNING") -> list[dict[str, Any]]:
        """DescribeTasks of ListTasks(desiredStatus): RUNNING (the default) or STOPPED (stopping and stopped)."""
        return await self.describe_tasks(await self.task_arns(desired_status))

    async def wait_services_stable(self, timeout: float = 60.0) -> None:
        """`aws ecs wait services-stable`, polling every second."""
        waiter = self.ecs.get_waiter("services_stable")
        await self.call(
            waiter.wait,
            cluster=self.cluster,
            services=[self.service_name],
            WaiterConfig={"Delay": 1, "MaxAttempts": int(timeout)},
        )

    async def task_definition(self, arn: str) -> dict[str, Any]:
        answer = await self.call(self.ecs.describe_task_definition, taskDefinition=arn)
        definition: dict[str, Any] = answer["taskDefinition"]
        return definition

    async def register_revision(self, arn: str, **env: str) -> str:
        """A new revision of `arn`'s family: the same task definition with `env` set in its first container."""
        current = await self.task_definition(arn)
        containers = [dict(c) for c in current["containerDefinitions"]]
        merged = {**environment(containers[0]), **env}
        containers[0]["environment"] = [{"name": k, "value": v} for k, v in merged.items()]
        copied = {
            key: current[key]
            for key in (
                "family",
                "taskRoleArn",
                "executionRoleArn",
                "networkMode",
                "requiresCompatibilities",
                "cpu",
                "memory",
            )
            if key in current
        }
        answer = await self.call(self.ecs.register_task_definition, containerDefinitions=containers, **copied)
        new_arn: str = answer["taskDefinition"]["taskDefinitionArn"]
        return new_arn

    # ELBv2
    async def target_group_arn(self) -> str:
        service = await self.service()
        arn: str = service["loadBalancers"][0]["targetGroupArn"]
        return arn

    async def targets(self, target_group_arn: str) -> list[dict[str, Any]]:
        answer = await self.call(self.elbv2.describe_target_health, TargetGroupArn=target_group_arn)
        described: list[dict[str, Any]] = answer["TargetHealthDescriptions"]
        return described

    # CloudWatch
    async def alarm(self, suffix: str) -> dict[str, Any]:
        """The one metric alarm whose name ends with `suffix` (the stack's "-high-cpu", "-low-cpu")."""
        answer = await self.call(self.cloudwatch.describe_alarms)
        found = [a for a in answer["MetricAlarms"] if a["AlarmName"].endswith(suffix)]
        assert len(found) == 1, [a["AlarmName"] for a in answer["MetricAlarms"]]
        alarm: dict[str, Any] = found[0]
        return alarm

    async def alarm_history(self, alarm_name: str) -> list[dict[str, Any]]:
        answer = await self.call(
            self.cloudwatch.describe_alarm_history, AlarmName=alarm_name, HistoryItemType="StateUpdate"
        )
        items: list[dict[str, Any]] = answer["AlarmHistoryItems"]
        return items

    # Application Auto Scaling
    async def register_scalable_target(self, **kwargs: Any) -> None:
        await self.call(
            self.autoscaling.register_scalable_target,
            ServiceNamespace="ecs",
            ResourceId=self.resource_id,
            ScalableDimension=SCALABLE_DIMENSION,
            **kwargs,
        )

    async def scaling_activities(self) -> list[dict[str, Any]]:
        answer = await self.call(
            self.autoscaling.describe_scaling_activities,
            ServiceNamespace="ecs",
            ResourceId=self.resource_id,
            ScalableDimension=SCALABLE_DIMENSION,
        )
        activities: list[dict[str, Any]] = answer["ScalingActivities"]
        return activities


def task_id(task: Mapping[str, Any]) -> str:
    return str(task["taskArn"]).rsplit("/", 1)[-1]

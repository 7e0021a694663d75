"""The hands of a chaos run: what a scenario may do to the deployment, and how the emulator does it.

`Deployment` is the seam the scenarios and the driver see: the RUNNING tasks (id, PID, open connections), a signal
to a task's process, the private Redis stopped and started again on the same port, the ECS desired count, the
load balancer's accepted-connection counter and the task behind an `AWSALB` cookie. `EmulatorDeployment` is that
seam over a started `emulator.supervisor.Emulator` in process isolation; tests can give scenarios a fake one.

Signals go to the worker's own PID (`os.kill`), as `kill -9` / `kill -STOP` from a shell would: the cluster and the
health checks find out the way ECS and the ALB do. The desired count is written through the ECS API
(`UpdateService` against moto), and the supervisor's scheduler follows it within about a second.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any, Protocol

from emulator.alb import TargetState
from emulator.clock import Clock, WallClock
from emulator.cluster.redis_backend import RedisServerProcess
from emulator.ecs.model import TaskState
from emulator.supervisor import Emulator


class FaultError(RuntimeError):
    """The scenario cannot be carried out on this deployment (no task to kill, no Redis to stop...)."""


@dataclass(frozen=True)
class TaskRef:
    task_id: str
    pid: int | None
    connections: int  # open client connections to the task, as the load balancer counts them

    @property
    def short(self) -> str:
        return self.task_id[:8]


@dataclass(frozen=True)
class StoppedTask:
    task_id: str
    reason: str


class Deployment(Protocol):
    clock: Clock

    def running_tasks(self) -> list[TaskRef]: ...

    def signal(self, task: TaskRef, signum: int) -> bool:
        """Send `signum` to the task's process; False when it has no process (any more)."""
        ...

    def redis_controllable(self) -> bool: ...

    async def stop_redis(self) -> str: ...

    async def start_redis(self) -> str: ...

    def desired_count(self) -> int: ...

    async def set_desired_count(self, n: int) -> None: ...

    async def wait_stopped(self, task_ids: set[str], timeout: float) -> StoppedTask | None: ...

    async def force_new_deployment(self) -> str:
        """`aws ecs update-service --force-new-deployment`; the new PRIMARY deployment's id."""
        ...

    async def wait_rollout(self, deployment_id: str, timeout: float) -> str | None:
        """The deployment's rolloutState once it is COMPLETED or FAILED within `timeout`, else None."""
        ...

    def alb_connections(self) -> int: ...

    def task_of(self, sticky: str | None) -> str | None: ...


class EmulatorDeployment:
    """`Deployment` over a started `Emulator` (process isolation: every task is an OS process)."""

    def __init__(self, emulator: Emulator) -> None:
        if not emulator.started:
            raise FaultError("the emulator is not started")
        self.emulator = emulator
        self.loop = emulator.loop
        self.cluster = emulator.cluster
        self.target_group = emulator.target_group
        self.load_balancer = emulator.load_balancer
        # the run's clock is the wall: worker processes, their heartbeats and the clients live in real time,
        # whatever `--time-scale` does to the emulated control plane (health checks, delays, stop timeout)
        self.clock: Clock = WallClock()

    def _tasks(self) -> tuple[TaskState, ...]:
        """The tasks as the ECS scheduler last wrote them (not yet STOPPED, and the recently stopped)."""
        status = self.loop.status
        return status.tasks if status is not None else ()

    def running_tasks(self) -> list[TaskRef]:
        connections = {t.target_id: t.open_connections for t in self.target_group.describe()}
        return [
            TaskRef(t.task_id, self.cluster.pid(t.task_id), connections.get(t.task_id, 0))
            for t in self._tasks()
            if t.last_status == "RUNNING"
        ]

    def signal(self, task: TaskRef, signum: int) -> bool:
        if task.pid is None:
            return False
        try:
            os.kill(task.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def _redis(self) -> RedisServerProcess | None:
        redis = self.emulator.redis
        return redis if isinstance(redis, RedisServerProcess) else None

    def redis_controllable(self) -> bool:
        return self._redis() is not None

    async def stop_redis(self) -> str:
        redis = self._redis()
        if redis is None:
            raise FaultError("the emulator's Redis is not a private redis-server")
        description = redis.description
        await redis.stop()
        return f"stopped {description}"

    async def start_redis(self) -> str:
        redis = self._redis()
        if redis is None:
            raise FaultError("the emulator's Redis is not a private redis-server")
        await redis.start()
        return f"started {redis.description}, empty"

    def desired_count(self) -> int:
        return int(self.emulator.account.read_service().desired_count)

    async def _update_service(self, **request: Any) -> dict[str, Any]:
        """`aws ecs update-service` through the emulator's AWS endpoint, as a user would; the service's answer."""
        service = self.emulator.service
        ecs = self.emulator.account.client("ecs")
        answer: dict[str, Any] = await asyncio.to_thread(
            ecs.update_service, cluster=service.cluster_name, service=service.service_name, **request
        )
        return answer

    async def set_desired_count(self, n: int) -> None:
        await self._update_service(desiredCount=n)

    async def wait_stopped(self, task_ids: set[str], timeout: float) -> StoppedTask | None:
        """The first of `task_ids` to reach STOPPED within `timeout` (this clock's seconds), or None."""
        deadline = self.clock.now() + timeout
        while self.clock.now() < deadline:
            for task in self._tasks():
                if task.task_id in task_ids and task.last_status == "STOPPED":
                    return StoppedTask(task.task_id, task.stopped_reason or "")
            await self.clock.sleep(0.1)
        return None

    async def force_new_deployment(self) -> str:
        answer = await self._update_service(forceNewDeployment=True)
        primary = next(d for d in answer["service"]["deployments"] if d["status"] == "PRIMARY")
        return str(primary["id"])

    async def wait_rollout(self, deployment_id: str, timeout: float) -> str | None:
        deadline = self.clock.now() + timeout
        while self.clock.now() < deadline:
            status = self.loop.status
            state = next(
                (
                    d.rollout_state
                    for d in (status.deployments if status else ())
                    if d.deployment_id == deployment_id
                ),
                None,
            )
            if state in ("COMPLETED", "FAILED"):
                return state
            await self.clock.sleep(0.1)
        return None

    def alb_connections(self) -> int:
        return self.load_balancer.connections_accepted

    def task_of(self, sticky: str | None) -> str | None:
        if not sticky:
            return None
        router = self.load_balancer.router
        for task in self._tasks():
            if router.token(task.task_id) == sticky:
                return str(task.task_id)
        return None

    def describe(self) -> dict[str, Any]:
        emulator = self.emulator
        return {
            "load_balancer_url": self.load_balancer.url,
            "tasks": len(self.running_tasks()),
            "isolation": emulator.config.isolation,
            "redis": emulator.redis.description,
            "time_scale": emulator.config.time_scale,
        }


async def until_healthy(emulator: Emulator, count: int, timeout: float) -> bool:
    """Wait (real seconds: start-up is real work) until `count` targets are healthy; False on timeout."""
    target_group = emulator.target_group
    changed = asyncio.Event()
    unsubscribe = target_group.subscribe(lambda *_: changed.set())
    try:
        async with asyncio.timeout(timeout):
            while sum(t.state is TargetState.HEALTHY for t in target_group.describe()) < count:
                changed.clear()
                await changed.wait()
    except TimeoutError:
        return False
    finally:
        unsubscribe()
    return True

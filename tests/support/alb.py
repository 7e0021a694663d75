"""The emulator's load balancer in front of `python -m chat` worker processes, for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from emulator.alb import HealthChecker, LoadBalancer, TargetGroup, TargetState
from emulator.clock import ScaledClock
from emulator.model import HealthCheck, TargetGroupSettings
from support.workers import WorkerProcess, start_worker

TIME_SCALE = 10.0  # health checks every 6 emulated seconds = 0.6 s


@dataclass
class Deployment:
    lb: LoadBalancer
    target_group: TargetGroup
    workers: dict[str, WorkerProcess]
    start: Callable[[], WorkerProcess]  # one more worker, configured as the others

    @property
    def url(self) -> str:
        return self.lb.url

    def target_of_connections(self) -> list[str]:
        return [t.target_id for t in self.target_group.describe() if t.open_connections > 0]

    def replace(self, target_id: str) -> str:
        """What the ECS scheduler does for a task that died: a new one, registered in the target group."""
        self.target_group.deregister(target_id)
        new_id = f"task-{len(self.workers)}"
        self.workers[new_id] = worker = self.start()
        self.target_group.register(new_id, "127.0.0.1", worker.port)
        return new_id

    async def wait_state(self, target_id: str, state: TargetState, timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while self.target_group.state(target_id) is not state:
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def deployment(
    redis_url: str, key_prefix: str, workers: int = 2, **env: str
) -> AsyncIterator[Deployment]:
    clock = ScaledClock(TIME_SCALE)
    settings = TargetGroupSettings(
        target_group_arn="arn:test",
        port=3000,
        health_check=HealthCheck(
            path="/healthz",
            interval_seconds=6,
            timeout_seconds=5,
            healthy_threshold_count=2,
            unhealthy_threshold_count=2,
        ),
        stickiness_enabled=True,
        deregistration_delay_seconds=30,
    )
    target_group = TargetGroup(settings, clock)
    procs = {f"task-{i}": start_worker(redis_url, key_prefix, **env) for i in range(workers)}
    checker = HealthChecker(target_group, clock)
    checks = asyncio.get_running_loop().create_task(checker.run(), name="test-health-checks")
    try:
        for target_id, proc in procs.items():
            target_group.register(target_id, "127.0.0.1", proc.port)
        async with LoadBalancer(target_group, clock=clock) as lb:
            result = Deployment(lb, target_group, procs, lambda: start_worker(redis_url, key_prefix, **env))
            for target_id in procs:
                await result.wait_state(target_id, TargetState.HEALTHY)
            yield result
    finally:
        checks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checks
        for proc in procs.values():
            proc.stop()

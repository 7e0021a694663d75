"""The supervisor: wires moto, the cluster, the target group and the load balancer into one deployment.

Start-up: the emulator's Redis (its ElastiCache) -> the templates deployed into moto with that Redis
as the endpoint -> the service as deployed (`ServiceDescription`) -> target group, health checks and
the load balancer -> the cluster with the desired count (or `--workers N`, also written to moto) ->
the admin endpoint and its state file.

While running: every RUNNING task is registered in the target group (and in moto); every task change
writes the true running / pending counts to moto; the desired count is read back from moto about
once a second, so `aws ecs update-service --desired-count N` against the printed endpoint makes the
workers follow; a target the health checks find unhealthy after the service's grace period is
stopped and replaced, as the ECS service scheduler does. A task whose worker crashed stays
registered until the health checks notice (that is what clients see on AWS), then is deregistered.

Autoscaling (unless `autoscaling=False`): the `Autoscaler` runs as the named task `autoscaler` on the
emulator's clock (`time_scale` 60: one alarm period per second). It measures the RUNNING tasks' real
CPU (`control.CpuMeter`, task vCPU from the task definition), publishes `AWS/ECS CPUUtilization`,
writes alarm states and the desired count to moto through the `MotoWriter` queue (`control.ServiceSink`)
and the cluster follows at once. A user's own `update-service` is read back within a second and
followed too, until the next scaling activity overwrites it, as on AWS. `status()` (see
`emulator.snapshot`) shows the activities; `task-cpu-meter` refreshes each task's CPU % every second.

Shutdown, AWS's order: each target is deregistered and drains (new requests go elsewhere; it is
done when it has no connections left or the deregistration delay ends), then SIGTERM, then SIGKILL
after the task definition's stopTimeout. `force` (a second Ctrl+C) skips straight to SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp

from emulator.admin import AdminServer, MotoWriter
from emulator.alb import HealthChecker, LoadBalancer, TargetGroup, TargetState
from emulator.autoscaler import Autoscaler
from emulator.aws import emulated_account
from emulator.clock import Clock, ScaledClock, WallClock
from emulator.cluster import Cluster, Task, TaskStatus, choose_redis_backend
from emulator.cluster.inproc import InProcLauncher
from emulator.cluster.process import ProcessLauncher
from emulator.cluster.runtime import WorkerLauncher
from emulator.cluster.task import REASON_UNHEALTHY
from emulator.control import CpuMeter, MessageMeter, ServiceSink
from emulator.model import ServiceDescription
from emulator.snapshot import build_status
from emulator.tasks import spawn

HEALTH_TIMEOUT_FLOOR = 1.0  # real seconds: a scaled health check timeout never drops below this
HEADER_TIMEOUT_WALL_SECONDS = 60.0  # real seconds the ALB waits for a request head, at any --time-scale

log = logging.getLogger(__name__)

Isolation = Literal["inproc", "process"]
STATE_FILE_NAME = "fargate-chat-emulator.json"


def default_state_file() -> Path:
    """Where `up` writes the admin address for `status`: $XDG_RUNTIME_DIR, else the temp dir."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / STATE_FILE_NAME


@dataclass(frozen=True)
class EmulatorConfig:
    """What `chat-emulator up` was asked for; inert."""

    workers: int | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    isolation: Isolation = "inproc"
    redis_url: str | None = None
    drop_cookies: bool = False
    stickiness: bool | None = None  # None: as the template says
    params: Mapping[str, str] = field(default_factory=dict)
    time_scale: float = 1.0
    admin_port: int = 0
    state_file: Path | None = None
    moto_server: bool = True
    desired_poll_seconds: float = 1.0
    autoscaling: bool = True  # False: no alarm evaluation, the desired count stays where it is put
    cpu_meter_seconds: float = 1.0  # how often (real seconds) the per-target CPU figures refresh


class Emulator:
    """The whole deployment: `await start()`, then `await shutdown()` (or `shutdown(force=True)`)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock: Clock = WallClock() if config.time_scale == 1 else ScaledClock(config.time_scale)
        self.redis = choose_redis_backend(config.isolation, config.redis_url)
        self._stack = contextlib.ExitStack()
        self.account: Any = None
        self.service: ServiceDescription | None = None
        self.target_group: TargetGroup | None = None
        self.checker: HealthChecker | None = None
        self.load_balancer: LoadBalancer | None = None
        self.cluster: Cluster | None = None
        self.launcher: WorkerLauncher | None = None
        self.admin: AdminServer | None = None
        self.moto = MotoWriter()
        self.sink: ServiceSink | None = None
        self.autoscaler: Autoscaler | None = None
        self.cpu_percent: dict[str, float] = {}  # per task, over the last `cpu_meter_seconds`
        self.messages_per_second: dict[str, float] = {}  # per target, from the workers' /metrics
        self._background: list[asyncio.Task[Any]] = []
        self._run_dir = Path(tempfile.mkdtemp(prefix="fargate-chat-emulator-"))

    # -- start-up ------------------------------------------------------------------------------
    async def start(self) -> None:
        endpoint = await self.redis.start()
        log.info("redis: %s", self.redis.description)
        self.moto.start()
        deployed = emulated_account(
            params=dict(self.config.params),
            redis_host=endpoint.host,
            redis_port=endpoint.port,
            server=self.config.moto_server,
        )
        self.account = await asyncio.to_thread(self._stack.enter_context, deployed)
        service = self.service = self._effective_service(self.account.service)
        desired = service.desired_count
        if self.config.workers is not None:
            desired = self.config.workers
            await self.moto.call(self.account.set_desired_count, desired)
        await self._start_data_plane(service)
        self.launcher = self._launcher(service, endpoint.url, endpoint.fake_server)
        self.cluster = Cluster(
            self.launcher,
            self.clock,
            desired_count=desired,
            stop_timeout_seconds=service.task_definition.stop_timeout_seconds,
            maximum_percent=service.deployment_configuration.maximum_percent,
            on_deactivating=self._deregister_and_drain,
        )
        self.cluster.subscribe(self._on_task)
        await self.cluster.start()
        self.sink = ServiceSink(self.account, self.moto, desired, self.cluster.set_desired_count)
        self._background.append(spawn(self._follow_service(), name="follow-ecs-service"))
        self._background.append(spawn(self._meter_cpu(), name="task-cpu-meter"))
        self._background.append(spawn(self._meter_messages(), name="target-message-meter"))
        if self.config.autoscaling:
            self._start_autoscaler(service)
        self.admin = AdminServer(self.status, host="127.0.0.1", port=self.config.admin_port)
        await self.admin.start()
        self._write_state_file()

    def _start_autoscaler(self, service: ServiceDescription) -> None:
        """CloudWatch + Application Auto Scaling, every minute of the clock (see emulator.autoscaler)."""
        assert self.cluster is not None and self.sink is not None
        cluster = self.cluster
        self.autoscaler = Autoscaler(
            self.clock,
            service,
            CpuMeter(cluster.cpu_seconds),
            self.sink,
            running_count=lambda: cluster.counts().running,
        )
        self._background.append(self.autoscaler.start())
        log.info(
            "autoscaling: %d alarm(s), every %.3g s of wall time",
            len(self.autoscaler.plan.alarms),
            60 / self.config.time_scale,
        )

    def _effective_service(self, service: ServiceDescription) -> ServiceDescription:
        if self.config.stickiness is None:
            return service
        group = dataclasses.replace(service.target_group, stickiness_enabled=self.config.stickiness)
        return dataclasses.replace(service, target_group=group)

    async def _start_data_plane(self, service: ServiceDescription) -> None:
        self.target_group = TargetGroup(service.target_group, self.clock)
        self.target_group.subscribe(self._on_target_state)
        self.checker = HealthChecker(
            self.target_group, self.clock, min_timeout_wall_seconds=HEALTH_TIMEOUT_FLOOR
        )
        self._background.append(spawn(self.checker.run(), name="alb-health-checker"))
        self.load_balancer = LoadBalancer(
            self.target_group,
            host=self.config.host,
            port=self.config.port,
            drop_cookies=self.config.drop_cookies,
            clock=self.clock,
            # a client's request head takes real time to arrive, however fast emulated time runs
            header_timeout_seconds=HEADER_TIMEOUT_WALL_SECONDS * self.config.time_scale,
        )
        await self.load_balancer.start()

    def _launcher(self, service: ServiceDescription, redis_url: str, fake_server: Any) -> WorkerLauncher:
        env = dict(service.task_definition.environment)
        ping_interval = float(env.get("PING_INTERVAL", 4))
        ping_timeout = float(env.get("PING_TIMEOUT", 8))
        stop_timeout = service.task_definition.stop_timeout_seconds / self.config.time_scale
        if self.config.isolation == "process":
            return ProcessLauncher(
                redis_url=redis_url,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                log_dir=self._run_dir,
            )
        use_url = self.config.redis_url is not None or fake_server is None
        return InProcLauncher(
            redis_url=redis_url if use_url else None,
            fake_server=None if use_url else fake_server,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            graceful_timeout=stop_timeout,
        )

    # -- keeping moto and the target group true ------------------------------------------------
    def _on_task(self, task: Task, old: TaskStatus | None, new: TaskStatus) -> None:
        assert self.target_group is not None and self.cluster is not None
        if new == "RUNNING":
            self.target_group.register(task.task_id, task.host, task.port)
            self.moto.submit(self.account.register_target, task.task_id, task.port)
        elif new == "STOPPED" and old in ("RUNNING", "DEACTIVATING"):
            spawn(self._deregister_crashed(task), name=f"deregister-crashed-{task.task_id[:8]}")
        counts = self.cluster.counts()
        self.moto.submit(self.account.set_task_counts, counts.running, counts.pending)

    async def _deregister_crashed(self, task: Task) -> None:
        """A crashed task's target stays until the health checks see it down (bounded), then drains."""
        assert self.target_group is not None and self.service is not None
        check = self.service.target_group.health_check
        patience = (check.unhealthy_threshold_count + 1) * check.interval_seconds + check.timeout_seconds
        deadline = self.clock.now() + patience
        while self.target_group.state(task.task_id) in (TargetState.INITIAL, TargetState.HEALTHY):
            if self.clock.now() >= deadline:
                break
            await self.clock.sleep(min(0.5, check.interval_seconds / 2))
        self.target_group.deregister(task.task_id)
        self.moto.submit(self.account.deregister_target, task.task_id, task.port)

    async def _deregister_and_drain(self, task: Task) -> None:
        """DEACTIVATING: deregister, then wait until no connection is left or the delay ends."""
        assert self.target_group is not None
        tg = self.target_group
        tg.deregister(task.task_id)
        self.moto.submit(self.account.deregister_target, task.task_id, task.port)
        while tg.state(task.task_id) is TargetState.DRAINING:
            [target] = tg.describe([task.task_id])
            if target.open_connections == 0 and target.in_flight_requests == 0:
                return  # AWS: with nothing in flight, deregistration completes at once
            await self.clock.sleep(0.25)

    def _on_target_state(self, target_id: str, old: TargetState, new: TargetState) -> None:
        if new is TargetState.UNHEALTHY:
            self._replace_if_unhealthy(target_id)

    def _replace_if_unhealthy(self, target_id: str) -> None:
        assert self.cluster is not None and self.service is not None and self.target_group is not None
        task = self.cluster.task(target_id)
        if task is None or task.status != "RUNNING" or task.started_at is None:
            return
        if self.target_group.state(target_id) is not TargetState.UNHEALTHY:
            return
        if self.clock.now() - task.started_at < self.service.health_check_grace_period_seconds:
            return  # ECS ignores the load balancer's verdict during the grace period
        log.warning("task %s failed its health checks: replacing it", target_id[:8])
        self.cluster.request_stop(target_id, REASON_UNHEALTHY)

    async def _follow_service(self) -> None:
        """Read the desired count from moto (the user, or the autoscaler, may change it)."""
        assert self.cluster is not None and self.sink is not None
        while True:
            try:
                generation = self.sink.generation
                desired = await self.moto.call(self.account.desired_count)
                if self.sink.observed(desired, generation) and desired != self.cluster.desired_count:
                    log.info("desired count %d -> %d", self.cluster.desired_count, desired)
                    self.cluster.set_desired_count(desired)
                for task in self.cluster.tasks:
                    self._replace_if_unhealthy(task.task_id)
            except Exception:
                log.exception("reading the ECS service from moto failed")
            await self.clock.sleep(self.config.desired_poll_seconds * self.config.time_scale)

    async def _meter_cpu(self) -> None:
        """Each task's CPUUtilization over the last second or so, for status and the dashboard."""
        assert self.cluster is not None and self.service is not None
        meter, vcpu = CpuMeter(self.cluster.cpu_seconds), self.service.task_definition.vcpu
        while True:
            self.cpu_percent = meter.percent_by_task(vcpu)
            await self.clock.sleep(self.config.cpu_meter_seconds * self.config.time_scale)

    async def _meter_messages(self) -> None:
        """Each target's messages/s (what its worker accepted), from the workers' /metrics, for status."""
        assert self.target_group is not None
        meter = MessageMeter()
        timeout = aiohttp.ClientTimeout(total=1.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                targets = {t.target_id: t.url for t in self.target_group.describe()}
                self.messages_per_second = await meter.rates(session, targets)
                await self.clock.sleep(self.config.cpu_meter_seconds * self.config.time_scale)

    # -- the admin view ------------------------------------------------------------------------
    async def status(self) -> dict[str, Any]:
        """The snapshot `chat-emulator status` (and `--json`) and the dashboard show."""
        return await build_status(self)

    def _write_state_file(self) -> None:
        path = self.config.state_file or default_state_file()
        state = {
            "pid": os.getpid(),
            "admin_url": self.admin.url if self.admin else None,
            "load_balancer_url": self.load_balancer.url if self.load_balancer else None,
            "endpoint_url": getattr(self.account, "endpoint_url", None),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state))

    # -- shutdown ------------------------------------------------------------------------------
    async def shutdown(self, *, force: bool = False) -> None:
        """Stop everything in AWS's order; `force` kills the workers without draining."""
        if self.autoscaler is not None:
            await self.autoscaler.stop()  # no scaling activity while the service goes down
        if self.cluster is not None:
            await self.cluster.shutdown(force=force)
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.load_balancer is not None:
            await self.load_balancer.stop()
        if self.target_group is not None:
            await self.target_group.close()
        if self.admin is not None:
            await self.admin.stop()
        await self.moto.close()
        await asyncio.to_thread(self._stack.close)
        await self.redis.stop()
        path = self.config.state_file or default_state_file()
        with contextlib.suppress(OSError):
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()

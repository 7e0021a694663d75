"""The supervisor: wiring only. It brings the rooms up in order, hands them to one control loop, and owns the
lifecycle (`serve()`: signals, graceful and forced stop, as uvicorn's Server does).

Start-up: the emulator's Redis (its ElastiCache) -> the templates deployed into moto with that Redis as the
endpoint -> the target group, its health checks and the load balancer -> the cluster (the workers: in-process or
OS processes) -> the control loop (`emulator.controller.ControlLoop`: one Autoscaler, one ECS service scheduler,
over the emulated account, reading the workers' open connections from a `ConnectionGauge` for the chat's own
ActiveConnections metric) -> telemetry and the admin endpoint. Everything that started is in one frozen
`Deployment`.

While running, the control loop is the only thing that decides: it reads the account every tick (so
`aws ecs update-service`, `register-scalable-target`, `set-alarm-state`... against the printed endpoint take
effect on the next tick), launches and stops workers, registers and deregisters their targets, and writes back
what happened (counts, deployments, tasks, target health, alarm states and history, scaling activities).

Shutdown, AWS's order: each task is deregistered and drains (until it has no connection left or the
deregistration delay ends), then SIGTERM, then SIGKILL after the task definition's stopTimeout. A second Ctrl+C
(`force`) skips straight to SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from emulator.admin import AdminServer
from emulator.alb import HealthChecker, LoadBalancer, TargetGroup
from emulator.aws import emulated_account
from emulator.clock import Clock, ScaledClock, WallClock
from emulator.cluster import Cluster, choose_redis_backend
from emulator.cluster.inproc import InProcLauncher
from emulator.cluster.process import ProcessLauncher
from emulator.cluster.runtime import WorkerLauncher
from emulator.controller import ControlLoop
from emulator.fleet import LiveFleet
from emulator.model import ServiceDescription
from emulator.snapshot import StatusSources, build_status
from emulator.tasks import TaskSet
from emulator.telemetry import ConnectionGauge, CpuMeter, Telemetry

HEALTH_TIMEOUT_FLOOR = 1.0  # real seconds: a scaled health check timeout never drops below this
HEADER_TIMEOUT_WALL_SECONDS = 60.0  # real seconds the ALB waits for a request head, at any --time-scale
GAUGE_FLOOR_SECONDS = 0.05  # real seconds: the connection gauge never reads the workers more often than this

log = logging.getLogger(__name__)

Isolation = Literal["inproc", "process"]
STATE_FILE_PREFIX = "fargate-chat-emulator"
DEFAULT_PORT = 8080


def default_state_file(port: int | None = None) -> Path:
    """Where `up` writes its addresses for `status`: one file per user (in $XDG_RUNTIME_DIR, else the temp dir,
    named with the user id) and per load balancer port, so that several users and several emulators on one
    machine do not overwrite each other. Without a port: the one emulator of this user that is running (the
    only state file there is), else the default port's file."""
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    stem = f"{STATE_FILE_PREFIX}-{os.getuid()}"
    if port is not None:
        return base / f"{stem}-{port}.json"
    found = sorted(base.glob(f"{stem}-*.json"))
    return found[0] if len(found) == 1 else base / f"{stem}-{DEFAULT_PORT}.json"


@dataclass(frozen=True)
class EmulatorConfig:
    """What `chat-emulator up` was asked for; inert."""

    workers: int | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    isolation: Isolation = "inproc"
    redis_url: str | None = None
    drop_cookies: bool = False
    stickiness: bool | None = None  # None: as the template says
    params: Mapping[str, str] = field(default_factory=dict)
    time_scale: float = 1.0
    admin_port: int = 0
    state_file: Path | None = None
    moto_server: bool = True
    autoscaling: bool = True  # False: no alarm evaluation, the desired count stays where it is put
    cpu_meter_seconds: float = 1.0  # how often (real seconds) the per-target CPU figures refresh
    connection_gauge_seconds: float = 1.0  # how often (real seconds, at most) the open connections are read
    loop_interval_seconds: float = 1.0  # real seconds between two looks at the account, at most


@dataclass(frozen=True)
class Deployment:
    """Everything `Emulator.start()` brought up, in start order."""

    clock: Clock
    account: Any  # emulator.aws.EmulatedAccount (an `Account`)
    service: ServiceDescription  # as deployed at start; the account holds the current one
    target_group: TargetGroup
    checker: HealthChecker
    load_balancer: LoadBalancer
    launcher: WorkerLauncher
    cluster: Cluster
    loop: ControlLoop
    telemetry: Telemetry
    connections: ConnectionGauge  # the workers' open connections, for the ActiveConnections metric
    admin: AdminServer
    run_dir: Path | None  # the worker processes' logs (process isolation)


class Emulator:
    """The whole deployment: `await start()`, then `await shutdown()` (or `shutdown(force=True)`)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock: Clock = WallClock() if config.time_scale == 1 else ScaledClock(config.time_scale)
        self.redis = choose_redis_backend(config.isolation, config.redis_url)
        self._stack = contextlib.ExitStack()
        self._deployment: Deployment | None = None
        self._background = TaskSet()
        self._loop_task: asyncio.Task[None] | None = None

    # -- what started ----------------------------------------------------------------------------
    @property
    def deployment(self) -> Deployment:
        if self._deployment is None:
            raise RuntimeError("the emulator has not started")
        return self._deployment

    @property
    def started(self) -> bool:
        return self._deployment is not None

    @property
    def account(self) -> Any:
        return self.deployment.account

    @property
    def service(self) -> ServiceDescription:
        return self.deployment.service

    @property
    def cluster(self) -> Cluster:
        return self.deployment.cluster

    @property
    def target_group(self) -> TargetGroup:
        return self.deployment.target_group

    @property
    def load_balancer(self) -> LoadBalancer:
        return self.deployment.load_balancer

    @property
    def loop(self) -> ControlLoop:
        return self.deployment.loop

    # -- start-up --------------------------------------------------------------------------------
    async def start(self) -> Deployment:
        endpoint = await self.redis.start()
        log.info("redis: %s", self.redis.description)
        deployed = emulated_account(
            params=dict(self.config.params),
            redis_host=endpoint.host,
            redis_port=endpoint.port,
            server=self.config.moto_server,
        )
        account = await asyncio.to_thread(self._stack.enter_context, deployed)
        if self.config.workers is not None:
            account.set_desired_count(self.config.workers)
        service = account.read_service()
        run_dir = self._run_dir()
        target_group = TargetGroup(self._target_group_settings(service), self.clock)
        checker = HealthChecker(target_group, self.clock, min_timeout_wall_seconds=HEALTH_TIMEOUT_FLOOR)
        self._background.spawn(checker.run(), "alb-health-checker")
        load_balancer = LoadBalancer(
            target_group,
            host=self.config.host,
            port=self.config.port,
            drop_cookies=self.config.drop_cookies,
            # the listener's idle and request-head timeouts are real seconds at any --time-scale
            header_timeout_seconds=HEADER_TIMEOUT_WALL_SECONDS,
        )
        await load_balancer.start()
        launcher = self._launcher(service, endpoint.url, endpoint.fake_server, run_dir)
        wake: list[Callable[[], None]] = []  # the loop's wake(), once the loop exists

        def changed() -> None:
            for w in wake:
                w()

        cluster = Cluster(launcher, on_change=changed)
        fleet = LiveFleet(cluster, target_group, on_change=changed)

        def target_urls() -> dict[str, str]:
            return {t.target_id: t.url for t in target_group.describe()}

        async def real_sleep(seconds: float) -> None:  # telemetry counts real seconds
            await self.clock.sleep(seconds * self.config.time_scale)

        connections = ConnectionGauge(target_urls, real_sleep, every_seconds=self._gauge_seconds())
        self._background.spawn(connections.run(), "target-connection-gauge")
        loop = ControlLoop(
            self.clock,
            account,
            fleet,
            CpuMeter(cluster.cpu_seconds),
            interval=self.config.loop_interval_seconds * self.config.time_scale,
            autoscaling=self.config.autoscaling,
            connection_source=connections,
        )
        wake.append(loop.wake)
        self._loop_task = self._background.spawn(loop.run(), "control-loop")
        telemetry = Telemetry(
            cluster.cpu_seconds,
            lambda: connections.documents,
            service.task_definition.vcpu,
            real_sleep,
            every_seconds=self.config.cpu_meter_seconds,
        )
        self._background.spawn(telemetry.meter_cpu(), "task-cpu-meter")
        self._background.spawn(telemetry.meter_messages(), "target-message-meter")
        admin = AdminServer(self.status, host="127.0.0.1", port=self.config.admin_port)
        await admin.start()
        self._deployment = Deployment(
            self.clock,
            account,
            service,
            target_group,
            checker,
            load_balancer,
            launcher,
            cluster,
            loop,
            telemetry,
            connections,
            admin,
            run_dir,
        )
        if self.config.autoscaling:
            log.info("autoscaling: every %.3g s of wall time", 60 / self.config.time_scale)
        self._write_state_file()
        return self._deployment

    def _gauge_seconds(self) -> float:
        """Real seconds between two readings of the open connections: `connection_gauge_seconds`, and never more
        than one minute of the clock (at --time-scale 120 a minute is 0.5 s), so that each minute's
        ActiveConnections datum comes from a reading taken within that minute, as a worker's EMF line on Fargate
        is. Past GAUGE_FLOOR_SECONDS (--time-scale above 1200) readings are spaced by the floor: a datum may then be
        a few minutes of the clock old, which delays the alarms by as much and changes nothing else."""
        minute = 60 / self.config.time_scale
        return max(GAUGE_FLOOR_SECONDS, min(self.config.connection_gauge_seconds, minute))

    def _run_dir(self) -> Path | None:
        """The folder of the worker processes' logs (process isolation only): `up` prints where it is; a clean
        stop removes it, a forced one keeps it and says so."""
        if self.config.isolation != "process":
            return None
        return Path(tempfile.mkdtemp(prefix=f"{STATE_FILE_PREFIX}-logs-"))

    def _target_group_settings(self, service: ServiceDescription) -> Any:
        if self.config.stickiness is None:
            return service.target_group
        return dataclasses.replace(service.target_group, stickiness_enabled=self.config.stickiness)

    def _launcher(
        self, service: ServiceDescription, redis_url: str, fake_server: Any, run_dir: Path | None
    ) -> WorkerLauncher:
        stop_timeout = service.task_definition.stop_timeout_seconds / self.config.time_scale
        if self.config.isolation == "process":
            return ProcessLauncher(redis_url=redis_url, log_dir=run_dir)
        use_url = self.config.redis_url is not None or fake_server is None
        return InProcLauncher(
            redis_url=redis_url if use_url else None,
            fake_server=None if use_url else fake_server,
            graceful_timeout=stop_timeout,
        )

    # -- the admin view --------------------------------------------------------------------------
    async def status(self) -> dict[str, Any]:
        """The snapshot `chat-emulator status` (and `--json`) and the dashboard show."""
        d = self.deployment
        sources = StatusSources(
            info={
                "load_balancer_url": d.load_balancer.url,
                "endpoint_url": getattr(d.account, "endpoint_url", None),
                "admin_url": d.admin.url,
                "isolation": self.config.isolation,
                "cpu_attribution": d.launcher.cpu_attribution,
                "redis": self.redis.description,
                "drop_cookies": self.config.drop_cookies,
                "time_scale": self.config.time_scale,
            },
            account=d.account,
            loop=d.loop,
            target_group=d.target_group,
            telemetry=d.telemetry,
            cluster=d.cluster,
            autoscaling=self.config.autoscaling,
        )
        return await build_status(sources)

    def _state_file(self) -> Path:
        return self.config.state_file or default_state_file(self.config.port or None)

    def _write_state_file(self) -> None:
        d = self.deployment
        path = self._state_file()
        state = {
            "pid": os.getpid(),
            "admin_url": d.admin.url,
            "load_balancer_url": d.load_balancer.url,
            "endpoint_url": getattr(d.account, "endpoint_url", None),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state))

    # -- shutdown --------------------------------------------------------------------------------
    async def shutdown(self, *, force: bool = False) -> None:
        """Stop everything in AWS's order; `force` kills the workers without draining. Calling it again with
        `force=True` while a graceful shutdown runs turns it into a forced one."""
        d = self._deployment
        if d is not None:
            d.loop.stop(force=force)
            if self._loop_task is not None:
                await asyncio.gather(asyncio.shield(self._loop_task), return_exceptions=True)
            await d.cluster.close()
        await self._background.cancel_all()
        if d is not None:
            await d.load_balancer.stop()
            await d.target_group.close()
            await d.admin.stop()
        await asyncio.to_thread(self._stack.close)
        await self.redis.stop()
        if d is not None and d.run_dir is not None:
            if force:  # something went wrong, or the user was in a hurry: the workers' logs may tell
                print(f"Worker logs kept in {d.run_dir}", file=sys.stderr, flush=True)
            else:
                shutil.rmtree(d.run_dir, ignore_errors=True)
        path = self._state_file()
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()


Announce = Callable[[Emulator], None]
WhileRunning = Callable[[Emulator], Awaitable[None]]


async def serve(
    config: EmulatorConfig, *, announce: Announce | None = None, while_running: WhileRunning | None = None
) -> int:
    """Start, `announce`, run `while_running` (e.g. the dashboard) until SIGINT or SIGTERM, then shut down in
    AWS's order; a second signal forces (SIGKILL to every worker). Returns the exit status."""
    stop, force = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            print("Forcing shutdown: SIGKILL to every worker.", file=sys.stderr, flush=True)
            force.set()
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    emulator = Emulator(config)
    try:
        await emulator.start()
        if announce is not None:
            announce(emulator)
        await _until(stop, emulator, while_running)
        print("Shutting down in AWS's order (Ctrl+C again to force)...", file=sys.stderr, flush=True)
        graceful = asyncio.ensure_future(emulator.shutdown())
        forced = asyncio.ensure_future(force.wait())
        await asyncio.wait({graceful, forced}, return_when=asyncio.FIRST_COMPLETED)
        if not graceful.done():
            emulator.loop.stop(force=True)
            await graceful
        forced.cancel()
    except BaseException:
        await emulator.shutdown(force=True)
        raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


async def _until(stop: asyncio.Event, emulator: Emulator, while_running: WhileRunning | None) -> None:
    if while_running is None:
        await stop.wait()
        return
    side = asyncio.ensure_future(while_running(emulator))
    try:
        await stop.wait()
    finally:
        side.cancel()
        await asyncio.gather(side, return_exceptions=True)

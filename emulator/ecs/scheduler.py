"""The ECS service scheduler: one object, the same live and in `simulate`; sans-io (no asyncio, no clock, no I/O).

Each `step(now, spec, reports, targets)` reads the service as the account holds it, what the hands report of
each task and what the target group says of each target; it returns the `Command`s for the hands, in the order
to run them, and the `ServiceStatus` to write back. Ids come from injected factories, so a run is reproducible.

The rules it follows (shared/reference/aws-scaling-semantics.md §4; ECS Developer Guide "Amazon ECS task
lifecycle", "Deploy Amazon ECS services by replacing tasks", "How the Amazon ECS deployment circuit breaker
detects failures", "Health check grace period"; ECS API reference `Deployment`, `DeploymentCircuitBreaker`,
`ServiceDeploymentCircuitBreaker`, `Task`):

- Lifecycle: Launch -> PROVISIONING -> PENDING (the hands know the task) -> RUNNING once started, and Register
  in the service's target group. A stop of a RUNNING task: DEACTIVATING + Deregister, then wait until the
  target is gone or `unused` (the target group ends draining early when the target has no connections, else
  after the deregistration delay), then STOPPING + Terminate (SIGTERM), Kill (SIGKILL) once the revision's
  `stopTimeout` has passed, and when the worker has exited DEPROVISIONING -> STOPPED + Forget. A task told to
  stop before it is RUNNING is killed at once.
- A worker that exits while desired RUNNING: "Essential container in task exited" (its exit code in
  `exitCode`), deregistered if it was registered, STOPPED, and replaced. One that cannot start: "Task failed
  to start: <error>". A RUNNING task whose target is `unhealthy` once `healthCheckGracePeriodSeconds` have
  passed since it started is stopped ("Task failed ELB health checks in (target-group <arn>)") and replaced.
- `healthStatus` is HEALTHY / UNHEALTHY from the target's state, UNKNOWN otherwise. For the rolling limits a
  task counts as healthy when it is RUNNING and its target is `healthy`, or once RUNNING when the service has
  no target group (the emulator has no container health checks).
- Launches and stops follow `emulator.ecs.rolling.plan` (maximumPercent / minimumHealthyPercent, scale-in
  order); tasks on their way out do not count toward the desired count.
- Deployments: a PRIMARY id not seen before starts a rolling deployment (the previous PRIMARY becomes
  ACTIVE). The PRIMARY turns COMPLETED when it has desiredCount healthy RUNNING tasks and no other deployment
  has a task left; the ACTIVE ones then leave `deployments[]`.
- Circuit breaker (when enabled): the IN_PROGRESS PRIMARY's failed tasks (failed to start, exited before they
  were healthy, stopped for failed health checks) are counted in `failedTasks`; a task that becomes healthy
  resets the count (ECS's default consecutive count, `resetOnHealthyTask`). At the threshold
  (`rolling.circuit_breaker_threshold`) the deployment is FAILED and "stops launching new tasks" (API reference
  `DeploymentCircuitBreaker`): the scheduler then launches and replaces nothing and stops no older task; it is
  stalled until a new PRIMARY arrives. With rollback, and a deployment that COMPLETED before, one step's status
  carries a `Rollback` to that deployment's task definition; the account answers with a new PRIMARY. Without
  a COMPLETED deployment to return to, ECS's guide says "the deployment is stalled": the same, with no
  Rollback.
- `runningCount` counts tasks whose lastStatus is RUNNING (API reference `Service.runningCount`): a task
  draining (DEACTIVATING) is no longer counted. `pendingCount` counts PROVISIONING and PENDING tasks.
"""

from __future__ import annotations

import collections
import itertools
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from emulator.ecs import wording
from emulator.ecs.model import (
    REASON_DEPLOYMENT,
    REASON_EXITED,
    REASON_SCALING_IN,
    REASON_START_FAILED,
    REASON_UNHEALTHY,
    Command,
    DeploymentState,
    DeploymentStatus,
    Deregister,
    DesiredStatus,
    Forget,
    HealthStatus,
    Kill,
    LastStatus,
    Launch,
    Register,
    Revision,
    Rollback,
    RolloutState,
    ServiceEvent,
    ServiceSpec,
    ServiceStatus,
    TargetHealthState,
    TargetReport,
    TaskReport,
    TaskState,
    Terminate,
)
from emulator.ecs.rolling import Candidate, circuit_breaker_threshold, plan

MAX_EVENTS = 100  # DescribeServices returns the 100 most recent events
_NOT_YET_RUNNING: frozenset[LastStatus] = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})
_EMPTY_STATUS = ServiceStatus(running_count=0, pending_count=0, deployments=(), tasks=(), events=())


def _health_status(target: TargetHealthState | None) -> HealthStatus:
    if target == "healthy":
        return "HEALTHY"
    return "UNHEALTHY" if target == "unhealthy" else "UNKNOWN"


def new_task_id() -> str:
    """A task id as ECS makes them: 32 hex digits."""
    return secrets.token_hex(16)


def new_event_id() -> str:
    """A service event id as ECS makes them: a UUID."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Step:
    """What one step decided: commands for the hands (in order) and the status to write into the account."""

    commands: tuple[Command, ...]
    status: ServiceStatus
    changed: bool  # False when `status` equals the previous step's: the loop may skip the write


@dataclass
class _Task:
    task_id: str
    deployment_id: str
    revision: Revision
    created_at: float
    sequence: int
    last_status: LastStatus = "PROVISIONING"
    desired_status: DesiredStatus = "RUNNING"
    health_status: HealthStatus = "UNKNOWN"
    started_at: float | None = None
    stopping_at: float | None = None
    stopped_at: float | None = None
    stopped_reason: str | None = None
    exit_code: int | None = None
    registered: bool = False
    terminated_at: float | None = None  # Terminate (or a Kill) was sent
    killed: bool = False
    ever_healthy: bool = False
    target: TargetHealthState | None = None  # as last reported; None = no target
    _stopped_state: TaskState | None = None

    @property
    def stopping(self) -> bool:
        return self.desired_status == "STOPPED"

    def state(self) -> TaskState:
        if self._stopped_state is not None:
            return self._stopped_state  # a STOPPED task never changes again
        state = TaskState(
            task_id=self.task_id,
            task_definition_arn=self.revision.task_definition_arn,
            deployment_id=self.deployment_id,
            last_status=self.last_status,
            desired_status=self.desired_status,
            health_status=self.health_status,
            created_at=self.created_at,
            started_at=self.started_at,
            stopping_at=self.stopping_at,
            stopped_at=self.stopped_at,
            stopped_reason=self.stopped_reason,
            exit_code=self.exit_code,
        )
        if self.last_status == "STOPPED":
            self._stopped_state = state
        return state


@dataclass
class _Deployment:
    deployment_id: str
    revision: Revision
    created_at: float
    updated_at: float
    status: DeploymentStatus = "PRIMARY"
    rollout_state: RolloutState = "IN_PROGRESS"
    rollout_state_reason: str = ""
    failed_tasks: int = 0
    reported: DeploymentState | None = None  # what the last status said: `updated_at` moves only on a change


@dataclass
class _Out:
    """What one step or stop_all produces, gathered as it goes."""

    commands: list[Command] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    deregistered: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # about tasks
    outcomes: list[str] = field(default_factory=list)  # about deployments: the newest events of a step


class ServiceScheduler:
    """One ECS service's scheduler. Feed it `step(...)` whenever something was reported or a deadline came."""

    def __init__(
        self,
        cluster_name: str,
        *,
        new_task_id: Callable[[], str] = new_task_id,
        new_event_id: Callable[[], str] = new_event_id,
        max_stopped_tasks: int = 50,
    ) -> None:
        self.cluster_name = cluster_name
        self._new_task_id = new_task_id
        self._new_event_id = new_event_id
        self._tasks: dict[str, _Task] = {}  # not yet STOPPED, oldest first
        self._stopped: collections.deque[_Task] = collections.deque(maxlen=max(0, max_stopped_tasks))
        self._deployments: dict[str, _Deployment] = {}  # oldest first
        self._primary: str | None = None
        self._last_completed: _Deployment | None = None
        self._events: collections.deque[ServiceEvent] = collections.deque(maxlen=MAX_EVENTS)  # newest first
        self._rollback: Rollback | None = None  # in the next status only
        self._spec: ServiceSpec | None = None
        self._status: ServiceStatus | None = None
        self._steady = False
        self._closing = False
        self._sequence = itertools.count()
        self._pending = _Out()  # what stop_all decided, for the next step

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def deployment_in_progress(self) -> bool:
        """The PRIMARY deployment is rolling (IN_PROGRESS): Application Auto Scaling pauses scale-in."""
        primary = self._deployments.get(self._primary or "")
        return primary is not None and primary.rollout_state == "IN_PROGRESS"

    @property
    def done(self) -> bool:
        """Every task is STOPPED (after `stop_all`, the hands may be closed)."""
        return not self._tasks

    @property
    def status(self) -> ServiceStatus:
        return self._status if self._status is not None else _EMPTY_STATUS

    def next_deadline(self, now: float) -> float | None:
        """The earliest clock time a step would act with no new report: a stopTimeout that runs out, or the end
        of the grace period of a RUNNING task whose target is already unhealthy. None: nothing is timed."""
        grace = self._spec.health_check_grace_period_seconds if self._spec is not None else 0.0
        deadlines: list[float] = []
        for task in self._tasks.values():
            if task.last_status == "STOPPING" and task.terminated_at is not None and not task.killed:
                deadlines.append(task.terminated_at + task.revision.stop_timeout_seconds)
            elif (
                not self._closing
                and task.last_status == "RUNNING"
                and not task.stopping
                and task.target == "unhealthy"
                and task.started_at is not None
            ):
                deadlines.append(max(now, task.started_at + grace))
        return min(deadlines, default=None)

    # -- driving ---------------------------------------------------------------------------------------
    def step(
        self,
        now: float,
        spec: ServiceSpec,
        reports: Mapping[str, TaskReport],
        targets: Mapping[str, TargetReport],
    ) -> Step:
        out, self._pending = self._pending, _Out()
        self._spec = spec
        self._follow_primary(now, spec)
        for task in list(self._tasks.values()):
            self._observe(now, spec, task, reports.get(task.task_id), targets.get(task.task_id), out)
        if not self._closing:
            self._check_circuit_breaker(spec, out)
            self._schedule(now, spec, out)
            self._check_rollout(spec, out)
        return self._finish_step(now, spec, out)

    def stop_all(self, now: float, reason: str, force: bool = False) -> None:
        """Shutdown: every task desired STOPPED with `reason`, in the stop order, or killed at once when
        `force`. The next step carries the commands; later ones finish the stops and launch nothing; `done`
        once every task is STOPPED."""
        self._closing = True
        out = self._pending
        for task in list(self._tasks.values()):
            if force and not task.killed:
                self._mark_stopping(now, task, reason)
                task.last_status = "STOPPING"
                self._kill(now, task, out)
            elif not task.stopping:
                self._begin_stop(now, task, reason, out)

    def stop_task(self, now: float, task_id: str, reason: str) -> bool:
        """ECS StopTask: the task is stopped in the stop order with `reason`; the service replaces it (the next
        step launches one when the task no longer counts). False when no such task is running or starting."""
        task = self._tasks.get(task_id)
        if task is None or task.stopping:
            return False
        self._begin_stop(now, task, reason, self._pending)
        return True

    # -- deployments -----------------------------------------------------------------------------------
    def _follow_primary(self, now: float, spec: ServiceSpec) -> None:
        """A PRIMARY id not seen before starts a rolling deployment; the previous PRIMARY becomes ACTIVE."""
        if spec.deployment_id == self._primary:
            return
        if self._primary is not None:
            self._deployments[self._primary].status = "ACTIVE"
        deployment = self._deployments.pop(spec.deployment_id, None)
        if deployment is None:
            deployment = _Deployment(spec.deployment_id, spec.revision, now, now)
        deployment.status, deployment.rollout_state, deployment.failed_tasks = "PRIMARY", "IN_PROGRESS", 0
        deployment.rollout_state_reason = wording.rollout_in_progress(spec.deployment_id)
        self._deployments[spec.deployment_id] = deployment
        self._primary = spec.deployment_id
        self._steady = False

    def _primary_deployment(self) -> _Deployment:
        assert self._primary is not None
        return self._deployments[self._primary]

    def _count_failure(self, task: _Task) -> None:
        deployment = self._deployments.get(task.deployment_id)
        if (
            deployment is not None
            and deployment.deployment_id == self._primary
            and deployment.rollout_state == "IN_PROGRESS"
        ):
            deployment.failed_tasks += 1

    def _check_circuit_breaker(self, spec: ServiceSpec, out: _Out) -> None:
        primary = self._primary_deployment()
        if not spec.circuit_breaker_enable or primary.rollout_state != "IN_PROGRESS":
            return
        if primary.failed_tasks < circuit_breaker_threshold(spec.desired_count):
            return
        primary.rollout_state, primary.rollout_state_reason = "FAILED", wording.CIRCUIT_BREAKER_REASON
        out.outcomes.append(wording.deployment_failed(spec.service_name, primary.deployment_id))
        target = self._last_completed
        if spec.circuit_breaker_rollback and target is not None and target is not primary:
            self._rollback = Rollback(
                failed_deployment_id=primary.deployment_id,
                task_definition_arn=target.revision.task_definition_arn,
                reason=wording.CIRCUIT_BREAKER_REASON,
            )
            out.outcomes.append(wording.rolling_back(spec.service_name, target.deployment_id))

    def _check_rollout(self, spec: ServiceSpec, out: _Out) -> None:
        primary = self._primary_deployment()
        mine = [
            t for t in self._tasks.values() if t.deployment_id == primary.deployment_id and not t.stopping
        ]
        healthy = sum(1 for t in mine if self._healthy(spec, t))
        others = any(t.deployment_id != primary.deployment_id for t in self._tasks.values())
        settled = len(mine) == healthy == spec.desired_count
        if primary.rollout_state == "IN_PROGRESS" and settled and not others:
            primary.rollout_state = "COMPLETED"
            primary.rollout_state_reason = wording.rollout_completed(primary.deployment_id)
            out.outcomes.append(wording.deployment_completed(spec.service_name, primary.deployment_id))
            self._last_completed = primary
            self._deployments = {primary.deployment_id: primary}
        steady = primary.rollout_state == "COMPLETED" and settled and len(self._tasks) == len(mine)
        if steady and not self._steady:
            out.outcomes.append(wording.steady_state(spec.service_name))
        self._steady = steady

    # -- tasks -----------------------------------------------------------------------------------------
    @staticmethod
    def _healthy(spec: ServiceSpec, task: _Task) -> bool:
        if task.last_status != "RUNNING":
            return False
        return not spec.target_group_arn or task.target == "healthy"

    def _observe(
        self,
        now: float,
        spec: ServiceSpec,
        task: _Task,
        report: TaskReport | None,
        target: TargetReport | None,
        out: _Out,
    ) -> None:
        task.target = target.state if target is not None else None
        if report is not None:
            if report.start_error is not None and task.started_at is None:
                if not task.stopping:
                    self._mark_stopping(now, task, f"{REASON_START_FAILED}: {report.start_error}")
                    self._count_failure(task)
                self._finish(now, task, report.exit_code, out)
                return
            if report.exited:
                if not task.stopping:  # it exited on its own
                    self._mark_stopping(now, task, REASON_EXITED)
                    if task.registered:
                        out.commands.append(Deregister(task.task_id))
                        out.deregistered.append(task.task_id)
                    if not task.ever_healthy:
                        self._count_failure(task)
                self._finish(now, task, report.exit_code, out)
                return
            if task.last_status == "PROVISIONING" and not report.started:
                task.last_status = "PENDING"
            if report.started and task.last_status in _NOT_YET_RUNNING and not task.stopping:
                task.last_status, task.started_at = "RUNNING", now
                if spec.target_group_arn:
                    task.registered = True
                    out.commands.append(Register(task.task_id))
                    out.registered.append(task.task_id)
        # a stop under way goes on
        if task.last_status == "DEACTIVATING" and task.target in (None, "unused"):
            self._terminate(now, task, out)
        elif task.last_status == "STOPPING" and self._stop_timeout_over(now, task):
            self._kill(now, task, out)
        # health, from the target group
        if task.last_status in ("RUNNING", "DEACTIVATING"):
            task.health_status = _health_status(task.target)
        if self._healthy(spec, task) and not task.ever_healthy:
            task.ever_healthy = True
            deployment = self._deployments.get(task.deployment_id)
            if deployment is not None and deployment.rollout_state == "IN_PROGRESS":
                deployment.failed_tasks = 0  # resetOnHealthyTask (ECS's default)
        if (
            not self._closing
            and task.last_status == "RUNNING"
            and not task.stopping
            and task.target == "unhealthy"
            and task.started_at is not None
            and now >= task.started_at + spec.health_check_grace_period_seconds
        ):
            out.messages.append(wording.unhealthy(spec.service_name, task.task_id, spec.target_group_arn))
            self._count_failure(task)
            self._begin_stop(now, task, REASON_UNHEALTHY.format(target_group_arn=spec.target_group_arn), out)

    def _schedule(self, now: float, spec: ServiceSpec, out: _Out) -> None:
        primary = self._primary_deployment()
        failed = primary.rollout_state == "FAILED"
        active = [t for t in self._tasks.values() if not t.stopping]
        candidates = [
            Candidate(
                task_id=t.task_id,
                primary=t.deployment_id == primary.deployment_id,
                running=t.last_status == "RUNNING",
                healthy=self._healthy(spec, t),
                started_at=t.started_at if t.started_at is not None else t.created_at,
            )
            for t in reversed(active)  # newest first: of two started together, the newer stops first
        ]
        decision = plan(
            spec.desired_count,
            candidates,
            len(self._tasks) - len(active),
            maximum_percent=spec.maximum_percent,
            minimum_healthy_percent=spec.minimum_healthy_percent,
            launch_allowed=not failed,
            stop_old=not failed,
        )
        for task_id in decision.stop:
            task = self._tasks[task_id]
            template = REASON_SCALING_IN if task.deployment_id == primary.deployment_id else REASON_DEPLOYMENT
            self._begin_stop(now, task, template.format(deployment_id=primary.deployment_id), out)
        for _ in range(decision.launch):
            task = _Task(
                self._new_task_id(), primary.deployment_id, primary.revision, now, next(self._sequence)
            )
            self._tasks[task.task_id] = task
            out.commands.append(Launch(task.task_id, task.revision))
            out.started.append(task.task_id)

    @staticmethod
    def _stop_timeout_over(now: float, task: _Task) -> bool:
        if task.terminated_at is None or task.killed:
            return False
        return now >= task.terminated_at + task.revision.stop_timeout_seconds

    @staticmethod
    def _mark_stopping(now: float, task: _Task, reason: str) -> None:
        task.desired_status = "STOPPED"
        task.stopping_at = now
        task.stopped_reason = task.stopped_reason or reason

    def _begin_stop(self, now: float, task: _Task, reason: str, out: _Out) -> None:
        """RUNNING and registered: DEACTIVATING + Deregister; RUNNING: STOPPING + Terminate; earlier: Kill."""
        self._mark_stopping(now, task, reason)
        if task.last_status != "RUNNING":
            task.last_status = "STOPPING"
            self._kill(now, task, out)
        elif task.registered:
            task.last_status = "DEACTIVATING"
            out.commands.append(Deregister(task.task_id))
            out.deregistered.append(task.task_id)
        else:
            self._terminate(now, task, out)

    @staticmethod
    def _terminate(now: float, task: _Task, out: _Out) -> None:
        task.last_status, task.terminated_at = "STOPPING", now
        out.commands.append(Terminate(task.task_id))
        out.stopped.append(task.task_id)

    @staticmethod
    def _kill(now: float, task: _Task, out: _Out) -> None:
        task.killed = True
        task.terminated_at = task.terminated_at if task.terminated_at is not None else now
        out.commands.append(Kill(task.task_id))

    def _finish(self, now: float, task: _Task, exit_code: int | None, out: _Out) -> None:
        """The worker has exited: DEPROVISIONING -> STOPPED, and the hands forget it."""
        task.last_status, task.stopped_at, task.exit_code = "STOPPED", now, exit_code
        task.health_status = "UNKNOWN"
        del self._tasks[task.task_id]
        self._stopped.append(task)
        out.commands.append(Forget(task.task_id))

    # -- the status ------------------------------------------------------------------------------------
    def _finish_step(self, now: float, spec: ServiceSpec, out: _Out) -> Step:
        name, arn = spec.service_name, spec.target_group_arn
        if out.started:
            out.messages.insert(0, wording.started(name, out.started))
        if out.registered:
            out.messages.append(wording.registered(name, len(out.registered), arn))
        if out.deregistered:
            out.messages.append(wording.draining(name, len(out.deregistered)))
            out.messages.append(wording.deregistered(name, len(out.deregistered), arn))
        if out.stopped:
            out.messages.append(wording.stopped(name, out.stopped))
        for message in [*out.messages, *out.outcomes]:
            self._events.appendleft(ServiceEvent(self._new_event_id(), now, message))
        status = self._build_status(now, spec)
        changed = status != self._status
        self._status = status
        self._rollback = None
        return Step(tuple(out.commands), status, changed)

    def _build_status(self, now: float, spec: ServiceSpec) -> ServiceStatus:
        live = list(self._tasks.values())
        deployments = tuple(
            self._deployment_state(now, spec, d, live) for d in reversed(self._deployments.values())
        )
        tasks = sorted([*self._stopped, *live], key=lambda t: t.sequence)
        return ServiceStatus(
            running_count=sum(1 for t in live if t.last_status == "RUNNING"),
            pending_count=sum(1 for t in live if t.last_status in _NOT_YET_RUNNING),
            deployments=deployments,
            tasks=tuple(t.state() for t in tasks),
            events=tuple(self._events),
            rollback=self._rollback,
        )

    def _deployment_state(
        self, now: float, spec: ServiceSpec, deployment: _Deployment, live: list[_Task]
    ) -> DeploymentState:
        """A PRIMARY's desiredCount is the service's; an ACTIVE one's, the tasks it still keeps running."""
        mine = [t for t in live if t.deployment_id == deployment.deployment_id]
        primary = deployment.deployment_id == self._primary
        state = DeploymentState(
            deployment_id=deployment.deployment_id,
            status=deployment.status,
            task_definition_arn=deployment.revision.task_definition_arn,
            desired_count=spec.desired_count if primary else sum(1 for t in mine if not t.stopping),
            pending_count=sum(1 for t in mine if t.last_status in _NOT_YET_RUNNING),
            running_count=sum(1 for t in mine if t.last_status == "RUNNING"),
            failed_tasks=deployment.failed_tasks,
            rollout_state=deployment.rollout_state,
            rollout_state_reason=deployment.rollout_state_reason,
            created_at=deployment.created_at,
            updated_at=deployment.updated_at,
        )
        if deployment.reported is None:
            deployment.reported = state
        elif replace(state, updated_at=deployment.reported.updated_at) != deployment.reported:
            state = replace(state, updated_at=now)
            deployment.updated_at = now
        deployment.reported = state
        return state

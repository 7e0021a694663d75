"""Simulated tasks and their target group: the scheduler's hands in `simulate`, the CPU and connections they report,
and what they cost and what their users feel.

- A launched task starts (accepts connections) `task_start_seconds` later; Terminate and Kill end it at once.
  Fargate bills it from the launch (the image pull) until it stops (`bills`).
- A registered target is `initial`, and `healthy` after one passing health check (one interval later; AWS's ALB
  guide: "After your target is registered, it must pass one health check to be considered healthy").
- A deregistered target drains: at once `unused` when it holds no connection, else after the target group's
  deregistration delay (AWS ELB guide, "Deregistration delay"); then the ALB closes its connections and their users
  reconnect to the others at once (the official client retries after 1 s +- 50 %): a reconnect wave.
- Load in vCPU (`minute,demand_vcpu`): shared evenly by the serving targets (healthy or draining: a draining target
  keeps its WebSocket connections until the delay ends), each capped at the task's vCPU.
- Load in users (`minute,connections,messages_per_s`): each task holds its own connections, as WebSockets behind a
  sticky ALB do. New users go to the healthy targets evenly (round robin); users leave in proportion; a session
  lasts `session_seconds` on average, after which its user comes back as a new connection (churn, which is what
  slowly evens out a fleet that scaled out). A task's CPU and memory come from the cost model; a task whose CPU
  demand exceeds its vCPU or whose connections exceed its memory is over capacity (its users feel it).
- When every target is unhealthy the group fails open to all of them.

`sample()` is the fleet's `CpuSource` (every task that ran since the previous sample, for the part it ran) and `connections()` its `ConnectionSource`; `usage(m)` is what minute m cost
and felt. The fleet lives on the control loop's clock: every call first brings it up to `clock.now()` (the CPU
used meanwhile, then the starts, health checks and drains that came due), so the loop may tick at any time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from emulator.clock import Clock
from emulator.ecs.model import (
    Command,
    Deregister,
    Forget,
    Kill,
    Launch,
    Register,
    TargetHealthState,
    TargetReport,
    TaskReport,
    Terminate,
)
from emulator.sim.costmodel import CostModel
from emulator.sim.load import Load
from emulator.telemetry import CpuSample

KILLED = 137  # 128 + SIGKILL
RECONNECT_WINDOW_SECONDS = (
    1.0  # socket.io-client's first retry: reconnectionDelay 1 s, randomizationFactor 0.5
)
EPSILON = 1e-9


@dataclass
class MinuteUsage:
    """What one minute of load cost and what its users felt (seconds are clock seconds within the minute)."""

    paid_vcpu_seconds: float = 0.0  # vCPU of every billed task (PENDING included), times seconds
    used_vcpu_seconds: float = 0.0
    over_capacity_seconds: float = 0.0  # some users' task could not keep up (CPU or memory), or none served
    connection_seconds: float = 0.0  # connections held, integrated over the minute
    new_connections: float = 0.0  # connections the ALB accepted: arrivals, returning sessions, reconnections
    moved_connections: float = 0.0  # connections closed by a task leaving service, to reconnect elsewhere
    processed_bytes: float = 0.0

    @property
    def active_connections(self) -> float:
        return self.connection_seconds / 60.0


@dataclass(frozen=True)
class TaskBill:
    """One task's billed interval on the clock (`stopped_at` None: still running)."""

    task_id: str
    launched_at: float
    stopped_at: float | None


@dataclass
class _Task:
    task_id: str
    launched_at: float
    starts_at: float
    exit_code: int | None = None
    exited_at: float | None = None
    target: TargetHealthState | None = None
    healthy_at: float | None = None
    unused_at: float | None = None
    cpu_seconds: float = 0.0
    connections: float = 0.0
    connection_seconds: float = 0.0  # its connections, integrated over time

    @property
    def exited(self) -> bool:
        return self.exited_at is not None


class SimulatedFleet:
    def __init__(
        self,
        *,
        task_start_seconds: float,
        deregistration_delay_seconds: float,
        health_check_interval_seconds: float,
        task_vcpu: float,
        task_memory_mib: float,
        clock: Clock,
        load: Load,
        model: CostModel | None = None,
        session_seconds: float = 1800.0,
    ) -> None:
        if load.in_users and model is None:
            raise ValueError("a load in connections needs a cost model")
        self.task_start_seconds = task_start_seconds
        self.deregistration_delay = deregistration_delay_seconds
        self.health_check_interval = health_check_interval_seconds
        self.task_vcpu, self.task_memory_mib = task_vcpu, task_memory_mib
        self.clock, self.load, self.model = clock, load, model
        self.session_seconds = session_seconds
        self.now = clock.now()
        self._tasks: dict[str, _Task] = {}
        self._finished: list[TaskBill] = []
        self._sampled_at = self.now
        self._sampled: dict[str, float] = {}
        self._stopped_since_sample: list[_Task] = []
        self._counted_at = self.now
        self._counted: dict[str, float] = {}
        self._usage: dict[int, MinuteUsage] = {}
        self.moved_at: dict[float, float] = {}  # clock time -> connections closed then (a reconnect wave)

    # -- the load --------------------------------------------------------------------------------------
    def _minute(self, t: float) -> int | None:
        minute = int(t // 60)
        return minute if 0 <= minute < self.load.minutes else None

    def demand_vcpu(self, t: float) -> float:
        """The service's total vCPU of load at clock time t (the cost model's, for a load in users)."""
        minute = self._minute(t)
        if minute is None:
            return 0.0
        if not self.load.in_users:
            return self.load.demand_vcpu[minute]
        assert self.model is not None
        return self.model.demand_vcpu(self.load.connections[minute], self.load.messages_per_s[minute])

    def _users(self, t: float) -> tuple[float, float]:
        minute = self._minute(t)
        if minute is None or not self.load.in_users:
            return 0.0, 0.0
        return self.load.connections[minute], self.load.messages_per_s[minute]

    def usage(self, minute: int) -> MinuteUsage:
        return self._usage.setdefault(minute, MinuteUsage())

    # -- time ----------------------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Move to the clock's now: the CPU used meanwhile (load changes on whole minutes), then the starts,
        health checks and drains that came due, in time order."""
        now = self.clock.now()
        while self.now < now:
            boundary = (self.now // 60 + 1) * 60
            step_end = min(now, boundary, self.next_event(self.now) or now)
            self._burn(step_end - self.now)
            self.now = step_end
            self._due()
        self._due()

    def next_event(self, now: float) -> float | None:
        """The next clock time something happens by itself (a start, a first health check, a drain's end)."""
        times = [
            t
            for task in self._tasks.values()
            for t in (
                task.starts_at if not task.exited else None,
                task.healthy_at if task.target == "initial" else None,
                task.unused_at if task.target == "draining" else None,
            )
            if t is not None and t > now
        ]
        return min(times, default=None)

    def _due(self) -> None:
        for task in self._tasks.values():
            if task.target == "initial" and task.healthy_at is not None and task.healthy_at <= self.now:
                task.target = "healthy"
            if task.target == "draining" and task.unused_at is not None and task.unused_at <= self.now:
                task.target = "unused"
                self._close_connections(task)
        self._place_connections()

    def _serving(self) -> list[_Task]:
        registered = [t for t in self._tasks.values() if t.target in ("initial", "healthy", "unhealthy")]
        if registered and all(t.target == "unhealthy" for t in registered):
            return registered + [t for t in self._tasks.values() if t.target == "draining"]
        return [t for t in self._tasks.values() if t.target in ("healthy", "draining") and not t.exited]

    @staticmethod
    def _accepting(serving: Sequence[_Task]) -> list[_Task]:
        """The targets new connections go to: the serving ones but those draining (healthy, or all registered ones
        when the group fails open)."""
        return [t for t in serving if t.target != "draining"]

    def _burn(self, seconds: float) -> None:
        if seconds <= 0:
            return
        serving = self._serving()
        demand = self.demand_vcpu(self.now)
        held, messages = sum(t.connections for t in serving), self._users(self.now)[1]
        if self.model is not None and self.load.in_users:
            wanted = [self.model.task_vcpu(t.connections, held, messages) for t in serving]
        else:
            share = max(0.0, demand) / len(serving) if serving else 0.0
            wanted = [share] * len(serving)
        used = [min(self.task_vcpu, w) for w in wanted]
        for task, cpu in zip(serving, used, strict=True):
            task.cpu_seconds += cpu * seconds
            task.connection_seconds += task.connections * seconds
        if (minute := self._minute(self.now)) is not None:
            self._account(self.usage(minute), serving, wanted, used, demand, held, messages, seconds)
        if self.load.in_users:
            self._churn(serving, seconds)

    def _account(
        self,
        usage: MinuteUsage,
        serving: Sequence[_Task],
        wanted: Sequence[float],
        used: Sequence[float],
        demand: float,
        held: float,
        messages: float,
        seconds: float,
    ) -> None:
        billed = sum(1 for t in self._tasks.values() if not t.exited)
        usage.paid_vcpu_seconds += billed * self.task_vcpu * seconds
        usage.used_vcpu_seconds += sum(used) * seconds
        over = (demand > 0 and not serving) or any(w > self.task_vcpu + EPSILON for w in wanted)
        if self.model is not None and self.load.in_users:
            memory = self.model.task_memory_mib
            over = over or any(memory(t.connections) > self.task_memory_mib + EPSILON for t in serving)
            usage.connection_seconds += held * seconds
            usage.processed_bytes += self.model.bytes_per_s(held, messages) * seconds
        if over:
            usage.over_capacity_seconds += seconds

    def _churn(self, serving: Sequence[_Task], seconds: float) -> None:
        """Sessions end and their users come back as new connections (placed by `_place_connections`)."""
        if self.session_seconds <= 0:
            return
        # linear, not 1 - exp(-s/T): the users who left are replaced at the step's end
        leaving = min(1.0, seconds / self.session_seconds)
        for task in serving:
            task.connections -= task.connections * leaving

    def _close_connections(self, task: _Task) -> None:
        """The task leaves service: the ALB closes its connections and their users reconnect elsewhere."""
        if task.connections <= EPSILON:
            task.connections = 0.0
            return
        moved, task.connections = task.connections, 0.0
        self.moved_at[self.now] = self.moved_at.get(self.now, 0.0) + moved
        if (minute := self._minute(self.now)) is not None:
            self.usage(minute).moved_connections += moved

    def _place_connections(self) -> None:
        """Bring the connections held to the load's: users who left go (evenly in proportion), new and returning
        users go to the accepting targets, evenly."""
        if not self.load.in_users:
            return
        wanted, _ = self._users(self.now)
        serving = self._serving()
        held = sum(t.connections for t in serving)
        if held > wanted + EPSILON:
            keep = wanted / held
            for task in serving:
                task.connections *= keep
            return
        accepting = self._accepting(serving)
        arriving = wanted - held
        if arriving <= EPSILON or not accepting:
            return
        for task in accepting:
            task.connections += arriving / len(accepting)
        minute = self._minute(self.now)
        if minute is not None and self.now > 0:  # minute 0's users were already there
            self.usage(minute).new_connections += arriving

    # -- the scheduler's hands -----------------------------------------------------------------------
    def execute(self, command: Command) -> None:
        self._catch_up()
        task = self._tasks.get(command.task_id)
        if isinstance(command, Launch):
            starts = self.now + self.task_start_seconds
            self._tasks[command.task_id] = _Task(command.task_id, self.now, starts)
        elif task is None:
            return
        elif isinstance(command, Register):
            task.target, task.healthy_at = "initial", self.now + self.health_check_interval
        elif isinstance(command, Deregister):
            holds = task.connections > EPSILON if self.load.in_users else self.demand_vcpu(self.now) > 0
            holds = holds and task.target in ("healthy", "unhealthy")
            task.target = "draining"
            task.unused_at = self.now + (self.deregistration_delay if holds else 0.0)
            self._due()
        elif isinstance(command, Terminate | Kill):
            task.exited_at = self.now
            task.exit_code = 0 if isinstance(command, Terminate) and task.starts_at <= self.now else KILLED
            if task.target is not None and task.target != "draining":
                task.target = None
            self._close_connections(task)
            self._place_connections()
        elif isinstance(command, Forget):
            self._finished.append(TaskBill(task.task_id, task.launched_at, task.exited_at))
            self._stopped_since_sample.append(task)
            del self._tasks[command.task_id]

    def reports(self) -> Mapping[str, TaskReport]:
        self._catch_up()
        return {
            t.task_id: TaskReport(
                t.task_id, started=t.starts_at <= self.now, exited=t.exited, exit_code=t.exit_code
            )
            for t in self._tasks.values()
        }

    def targets(self) -> Mapping[str, TargetReport]:
        self._catch_up()
        return {
            t.task_id: TargetReport(t.target)
            for t in self._tasks.values()
            if t.target is not None and t.target != "unused"
        }

    def target_health(self) -> tuple[tuple[str, int, str, str | None, str], ...]:
        return tuple((tid, 0, report.state, None, "") for tid, report in self.targets().items())

    def bills(self) -> list[TaskBill]:
        """Every task's billed interval so far (Fargate: from the launch until it stops)."""
        self._catch_up()
        live = [TaskBill(t.task_id, t.launched_at, t.exited_at) for t in self._tasks.values()]
        return [*self._finished, *live]

    def task_connections(self) -> dict[str, float]:
        """The connections each started, not yet stopped task holds now."""
        self._catch_up()
        return {t.task_id: t.connections for t in self._running()}

    def _running(self) -> list[_Task]:
        return [t for t in self._tasks.values() if t.starts_at <= self.now and not t.exited]

    # -- CpuSource, ConnectionSource -----------------------------------------------------------------
    def sample(self) -> CpuSample:
        """CPU seconds each task used since the previous sample, and for how long it ran then: a task that started or
        stopped in between counts for the part it ran, as ECS's service CPUUtilization counts it."""
        self._catch_up()
        used, seconds = [], []
        for task in [*self._tasks.values(), *self._stopped_since_sample]:
            ran = (task.exited_at if task.exited_at is not None else self.now) - max(
                self._sampled_at, task.starts_at
            )
            if ran > 0:
                used.append(task.cpu_seconds - self._sampled.get(task.task_id, 0.0))
                seconds.append(ran)
        elapsed = self.now - self._sampled_at
        self._sampled = {t.task_id: t.cpu_seconds for t in self._tasks.values()}
        self._sampled_at, self._stopped_since_sample = self.now, []
        return CpuSample(tuple(used), elapsed, tuple(seconds))

    def connections(self) -> Sequence[float]:
        """ActiveConnections as each running task reports it once a minute (its EMF line, `chat.emf`): the
        connections it held on average since the previous call."""
        self._catch_up()
        values = []
        for task in self._running():
            ran = self.now - max(self._counted_at, task.starts_at)
            if ran > 0:
                values.append((task.connection_seconds - self._counted.get(task.task_id, 0.0)) / ran)
        self._counted = {t.task_id: t.connection_seconds for t in self._tasks.values()}
        self._counted_at = self.now
        return values

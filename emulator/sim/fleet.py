"""Simulated tasks and their target group: the scheduler's hands in `simulate`, and the CPU they use.

- A launched task starts (accepts connections) `task_start_seconds` later; Terminate and Kill end it at once.
- A registered target is `initial`, and `healthy` after one passing health check (one interval later; AWS's ALB
  guide: "After your target is registered, it must pass one health check to be considered healthy").
- A deregistered target drains: at once `unused` when it holds no connection, else after the target group's
  deregistration delay (AWS ELB guide, "Deregistration delay"). A target holds connections while there is load.
- Load: `demand_at(t)` vCPU of work, shared evenly by the serving targets (healthy or draining: a draining target keeps
  its WebSocket connections until the delay ends; only new requests go elsewhere), each capped at the task's vCPU;
  when every target is unhealthy the group fails open to all of them. `sample()` is the fleet's `CpuSource`: the
  CPU seconds each serving task used since the previous sample, as the live `CpuMeter` measures real workers.

The fleet lives on the control loop's clock: every call first brings it up to `clock.now()` (the CPU used
meanwhile, then the starts, health checks and drains that came due), so the loop may tick at any time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from emulator.telemetry import CpuSample

KILLED = 137  # 128 + SIGKILL


@dataclass
class _Task:
    task_id: str
    starts_at: float
    exit_code: int | None = None
    exited: bool = False
    target: TargetHealthState | None = None
    healthy_at: float | None = None
    unused_at: float | None = None
    cpu_seconds: float = 0.0


class SimulatedFleet:
    def __init__(
        self,
        *,
        task_start_seconds: float,
        deregistration_delay_seconds: float,
        health_check_interval_seconds: float,
        task_vcpu: float,
        clock: Clock,
        demand_at: Callable[[float], float],
    ) -> None:
        self.task_start_seconds = task_start_seconds
        self.deregistration_delay = deregistration_delay_seconds
        self.health_check_interval = health_check_interval_seconds
        self.task_vcpu = task_vcpu
        self.clock, self.demand_at = clock, demand_at
        self.now = clock.now()
        self._tasks: dict[str, _Task] = {}
        self._sampled_at = self.now
        self._sampled: dict[str, float] = {}

    # -- time ----------------------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Move to the clock's now: the CPU used meanwhile (demand changes on whole minutes), then the starts,
        health checks and drains that came due, in time order."""
        now = self.clock.now()
        while self.now < now:
            boundary = (self.now // 60 + 1) * 60
            step_end = min(now, boundary, self.next_event(self.now) or now)
            self._burn(step_end - self.now, self.demand_at(self.now))
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

    def _serving(self) -> list[_Task]:
        registered = [t for t in self._tasks.values() if t.target in ("initial", "healthy", "unhealthy")]
        if registered and all(t.target == "unhealthy" for t in registered):
            return registered + [t for t in self._tasks.values() if t.target == "draining"]
        return [t for t in self._tasks.values() if t.target in ("healthy", "draining") and not t.exited]

    def _burn(self, seconds: float, demand: float) -> None:
        serving = self._serving()
        if seconds <= 0 or not serving:
            return
        share = min(self.task_vcpu, max(0.0, demand) / len(serving))
        for task in serving:
            task.cpu_seconds += share * seconds

    # -- the scheduler's hands -----------------------------------------------------------------------
    def execute(self, command: Command) -> None:
        self._catch_up()
        task = self._tasks.get(command.task_id)
        if isinstance(command, Launch):
            self._tasks[command.task_id] = _Task(command.task_id, self.now + self.task_start_seconds)
        elif task is None:
            return
        elif isinstance(command, Register):
            task.target, task.healthy_at = "initial", self.now + self.health_check_interval
        elif isinstance(command, Deregister):
            holds_connections = self.demand_at(self.now) > 0 and task.target in ("healthy", "unhealthy")
            task.target = "draining"
            task.unused_at = self.now + (self.deregistration_delay if holds_connections else 0.0)
            self._due()
        elif isinstance(command, Terminate | Kill):
            task.exited = True
            task.exit_code = 0 if isinstance(command, Terminate) and task.starts_at <= self.now else KILLED
            if task.target is not None and task.target != "draining":
                task.target = None
        elif isinstance(command, Forget):
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

    # -- CpuSource -----------------------------------------------------------------------------------
    def sample(self) -> CpuSample:
        """CPU seconds each started task used since the previous sample (tasks started since then are left out,
        as the live meter leaves out a task it has no baseline for)."""
        self._catch_up()
        elapsed = self.now - self._sampled_at
        current = {
            t.task_id: t.cpu_seconds for t in self._tasks.values() if t.starts_at <= self.now and not t.exited
        }
        used = [cpu - self._sampled[tid] for tid, cpu in current.items() if tid in self._sampled]
        self._sampled, self._sampled_at = current, self.now
        return CpuSample(tuple(used), elapsed)

"""The live control plane's edges: the workers' real CPU in, moto's ECS service and alarms out.

- `CpuMeter` turns cumulative per-task CPU seconds (`Cluster.cpu_seconds()`) into the CPU each task used
  since the previous reading, over the real seconds that passed (a `CpuSource` for the `Autoscaler`; a
  second meter gives the dashboard its per-target CPU about once a second). CPU is real work measured in
  real time, so the meter reads the wall clock, not the emulator's (scaled) Clock. A task seen for the
  first time is left out of that reading: its start-up (imports) is not load, and there is no baseline.
- `ServiceSink` is the `ControlPlaneSink` the supervisor gives the autoscaler: every write goes through
  the `MotoWriter` queue (in order, off the event loop, after the task-count writes already asked for);
  `desired_count()` answers moto's desired count as last read (the supervisor reads it about once a
  second, so a user's `update-service` is seen) or as last written by the autoscaler.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from emulator.admin import MotoWriter
from emulator.autoscaler import CpuSample


class CpuMeter:
    """CPU seconds per task between two readings of cumulative CPU seconds."""

    def __init__(
        self, read: Callable[[], Mapping[str, float]], wall: Callable[[], float] = time.monotonic
    ) -> None:
        self._read = read
        self._wall = wall
        self._last: dict[str, float] = {}
        self._last_at: float | None = None

    def sample_by_task(self) -> tuple[dict[str, float], float]:
        """({task id: CPU seconds used since the previous reading}, real seconds since it)."""
        now, current = self._wall(), dict(self._read())
        elapsed = 0.0 if self._last_at is None else now - self._last_at
        used = {tid: max(0.0, cpu - self._last[tid]) for tid, cpu in current.items() if tid in self._last}
        self._last, self._last_at = current, now
        return used, elapsed

    def sample(self) -> CpuSample:
        used, elapsed = self.sample_by_task()
        return CpuSample(tuple(used.values()), elapsed)

    def percent_by_task(self, task_vcpu: float) -> dict[str, float]:
        """CPUUtilization of each task since the previous reading (100 = the task's whole vCPU)."""
        used, elapsed = self.sample_by_task()
        if elapsed <= 0 or task_vcpu <= 0:
            return {}
        return {tid: min(100.0, 100.0 * cpu / (elapsed * task_vcpu)) for tid, cpu in used.items()}


class ServiceSink:
    """`ControlPlaneSink` over an `EmulatedAccount` that never blocks the event loop."""

    def __init__(
        self, account: Any, moto: MotoWriter, desired_count: int, on_desired: Callable[[int], None]
    ) -> None:
        self._account = account
        self._moto = moto
        self._desired = desired_count
        self._on_desired = on_desired
        self.generation = 0  # bumped by every write of the desired count

    def put_cpu_utilization(self, per_task_percent: list[float], timestamp: datetime) -> None:
        self._moto.submit(self._account.put_cpu_utilization, per_task_percent, timestamp)

    def set_alarm_state(
        self, alarm_name: str, state: str, reason: str, reason_data: dict[str, Any] | None = None
    ) -> None:
        self._moto.submit(self._account.set_alarm_state, alarm_name, state, reason, reason_data)

    def set_desired_count(self, n: int) -> None:
        self.generation += 1
        self._desired = n
        self._on_desired(n)
        self._moto.submit(self._account.set_desired_count, n)

    def desired_count(self) -> int:
        return self._desired

    def observed(self, desired_count: int, generation: int) -> bool:
        """Take a desired count read from moto; False (and ignored) if a write happened since `generation`."""
        if generation != self.generation:
            return False
        self._desired = desired_count
        return True


class MessageMeter:
    """Messages per second each target's worker accepted from its clients, from the workers' `/metrics`.

    Reads the `chat_messages_accepted_total` counter every target serves at `GET /metrics` and turns two
    readings into a rate over the real seconds between them; a target that does not answer has no figure.
    """

    COUNTER = "chat_messages_accepted_total"

    def __init__(self, wall: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall
        self._last: dict[str, tuple[float, float]] = {}  # target id -> (counter, when)

    async def rates(self, session: Any, targets: Mapping[str, str]) -> dict[str, float]:
        """{target id: messages/s} for `targets` ({target id: worker base URL})."""
        rates: dict[str, float] = {}
        seen: dict[str, tuple[float, float]] = {}
        for target_id, url in targets.items():
            try:
                async with session.get(f"{url}/metrics") as response:
                    counter = parse_counter(await response.text(), self.COUNTER)
            except Exception:
                continue
            if counter is None:
                continue
            now = self._wall()
            seen[target_id] = (counter, now)
            if target_id in self._last:
                before, at = self._last[target_id]
                if now > at:
                    rates[target_id] = max(0.0, counter - before) / (now - at)
        self._last = seen
        return rates


def parse_counter(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return None

"""Telemetry: what the workers really use, measured — the CPU the autoscaler publishes and the figures of `status`.

- `CpuSample` / `CpuSource`: CPU seconds each serving task used over some real seconds (the live `CpuMeter`, or
  the simulated fleet in `simulate`); `task_utilization` is the one CPUUtilization formula of the emulator:
  `100 x cpu_seconds / (seconds x task vCPU)` per task, at most 100 (a Fargate task cannot use more than its vCPU).
- `CpuMeter` turns cumulative per-task CPU seconds (`Cluster.cpu_seconds()`) into the CPU each task used
  since the previous reading, over the real seconds that passed. CPU is real work measured in real time, so the
  meter reads the wall clock, not the emulator's (scaled) Clock. A task seen for the first time is left out of
  that reading: its start-up (imports) is not load, and there is no baseline.
- `MessageMeter`: messages per second each target's worker accepted, from two readings of its `/metrics`.
- `ConnectionSource` / `connections_metric_key`: the chat's own `ActiveConnections` metric (`chat.emf`), one value
  per serving task each minute, under the namespace and dimensions the task definition's environment gives the
  workers; the autoscaler publishes it as CloudWatch Logs would extract it from the workers' EMF lines on Fargate.
- `ConnectionGauge`: the live `ConnectionSource`, each serving target's `chat_connections` from its worker's
  `/metrics` (the figure the worker's own EMF line carries), read in the background every `every_seconds` of real
  time and answered synchronously from the latest readings. It is the one reader of the workers' `/metrics`: the
  `MessageMeter` rates come from the same documents.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chat import emf
from emulator.model import TaskDefinition
from emulator.scaling.metrics import MetricKey, StatisticSet, metric_key


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds each task used over `elapsed_seconds` of real time (the source measures both); `task_seconds`: how
    long each of them ran within it (empty: all of `elapsed_seconds`, as the live meter sees every task it reports)."""

    task_cpu_seconds: Sequence[float]
    elapsed_seconds: float
    task_seconds: Sequence[float] = ()

    def seconds(self) -> Sequence[float]:
        return self.task_seconds or [self.elapsed_seconds] * len(self.task_cpu_seconds)


class CpuSource(Protocol):
    def sample(self) -> CpuSample:
        """Per-task CPU seconds since the previous sample, for the tasks serving now."""
        ...


class ConnectionSource(Protocol):
    def connections(self) -> Sequence[float]:
        """The open connections of each serving task, one value per task, as read during the minute that just ended
        (live: the latest reading of each target's /metrics; simulated: the minute's average, which is what a reading
        at a random moment of it gives on average)."""
        ...


def connections_metric_key(task_definition: TaskDefinition) -> MetricKey | None:
    """The key the workers of `task_definition` publish ActiveConnections under; None when they publish none."""
    env = dict(task_definition.environment)
    namespace = emf.metric_namespace(env)
    if namespace is None:
        return None
    return metric_key(namespace, emf.ACTIVE_CONNECTIONS, emf.metric_dimensions(env))


def task_utilization(sample: CpuSample, task_vcpu: float) -> list[float]:
    """Per-task CPUUtilization in percent over the time each task ran; a Fargate task cannot use more than its vCPU."""
    if sample.elapsed_seconds <= 0 or task_vcpu <= 0:
        return []
    return [
        max(0.0, min(100.0, 100.0 * used / (seconds * task_vcpu)))
        for used, seconds in zip(sample.task_cpu_seconds, sample.seconds(), strict=True)
        if seconds > 0
    ]


def service_utilization(sample: CpuSample, task_vcpu: float) -> StatisticSet | None:
    """The service's CPUUtilization datum: `100 x CPU used by its tasks / CPU reserved for them` (reference 4.1), a
    task that ran part of the period counting for that part. Its Average is that ratio; its SampleCount the tasks
    (a task that ran half the minute counts one half); Minimum and Maximum the per-task figures. None: no task ran."""
    percents = task_utilization(sample, task_vcpu)
    if not percents:
        return None
    weights = [seconds / sample.elapsed_seconds for seconds in sample.seconds() if seconds > 0]
    return StatisticSet(
        sum(weights), sum(p * w for p, w in zip(percents, weights, strict=True)), min(percents), max(percents)
    )


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


Documents = Mapping[str, tuple[str, float]]  # target id -> (its /metrics text, real time it was read)


class MessageMeter:
    """Messages per second each target's worker accepted from its clients, from the workers' `/metrics`.

    Turns two readings of the `chat_messages_accepted_total` counter (`ConnectionGauge.documents`) into a rate over
    the real seconds between them; a target that did not answer has no figure, and the same reading seen again
    gives the same figure.
    """

    COUNTER = "chat_messages_accepted_total"

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}  # target id -> (counter, when)
        self._rates: dict[str, float] = {}

    def rates(self, documents: Documents) -> dict[str, float]:
        """{target id: messages/s} for the targets of `documents`."""
        rates: dict[str, float] = {}
        seen: dict[str, tuple[float, float]] = {}
        for target_id, (text, now) in documents.items():
            counter = parse_counter(text, self.COUNTER)
            if counter is None:
                continue
            seen[target_id] = (counter, now)
            if target_id in self._last:
                before, at = self._last[target_id]
                if now > at:
                    rates[target_id] = max(0.0, counter - before) / (now - at)
                elif target_id in self._rates:
                    rates[target_id] = self._rates[target_id]
        self._last, self._rates = seen, rates
        return rates


def parse_counter(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return None


class Telemetry:
    """The per-target figures `status` and the dashboard show, refreshed every `every_seconds` of real time:
    each task's CPUUtilization (a `CpuMeter` of its own, apart from the autoscaler's) and each target's
    messages per second (a `MessageMeter` over the `ConnectionGauge`'s latest `/metrics` documents)."""

    def __init__(
        self,
        cpu_seconds: Callable[[], Mapping[str, float]],
        documents: Callable[[], Documents],
        task_vcpu: float,
        sleep: Callable[[float], Awaitable[None]],
        every_seconds: float = 1.0,
    ) -> None:
        self._cpu = CpuMeter(cpu_seconds)
        self._messages = MessageMeter()
        self._documents, self._vcpu = documents, task_vcpu
        self._sleep, self._every = sleep, every_seconds
        self.cpu_percent: dict[str, float] = {}
        self.messages_per_second: dict[str, float] = {}

    async def meter_cpu(self) -> None:
        while True:
            self.cpu_percent = self._cpu.percent_by_task(self._vcpu)
            await self._sleep(self._every)

    async def meter_messages(self) -> None:
        while True:
            self.messages_per_second = self._messages.rates(self._documents())
            await self._sleep(self._every)


class ConnectionGauge:
    """The open connections of each serving task now, from the workers' `/metrics` (a `ConnectionSource`).

    `run()` reads `/metrics` of every target `target_urls()` lists ({target id: worker base URL}: every registered
    target, draining ones too, as their tasks still run and hold connections), all at once, keeps each answer in
    `documents` (which the `MessageMeter` reads too), then sleeps `every_seconds` of real time, until cancelled. `connections()` is synchronous, for the autoscaler's
    minute: one value per target listed now whose latest reading answered; a target that has not answered yet, or
    did not answer the latest reading (stopping, killed), is left out, as a task that prints no EMF line has no
    datum. A reading is at most `every_seconds` (plus one request) old when the minute takes it.
    """

    GAUGE = "chat_connections"

    def __init__(
        self,
        target_urls: Callable[[], Mapping[str, str]],
        sleep: Callable[[float], Awaitable[None]],
        every_seconds: float = 1.0,
        timeout_seconds: float = 1.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._target_urls, self._sleep = target_urls, sleep
        self._every, self._timeout, self._wall = every_seconds, timeout_seconds, wall
        self.documents: dict[str, tuple[str, float]] = {}  # target id -> (/metrics text, when), as last read

    def connections(self) -> list[float]:
        listed = self._target_urls()
        readings = {tid: parse_counter(text, self.GAUGE) for tid, (text, _) in self.documents.items()}
        return [value for tid in listed if (value := readings.get(tid)) is not None]

    async def read(self, session: Any) -> None:
        """One reading of every listed target, concurrently (a slow worker does not delay the others)."""
        targets = dict(self._target_urls())

        async def document(url: str) -> tuple[str, float] | None:
            try:
                async with session.get(f"{url}/metrics") as response:
                    return await response.text(), self._wall()
            except Exception:
                return None

        read = await asyncio.gather(*(document(url) for url in targets.values()))
        self.documents = {tid: d for tid, d in zip(targets, read, strict=True) if d is not None}

    async def run(self) -> None:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                await self.read(session)
                await self._sleep(self._every)

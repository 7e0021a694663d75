"""Spread the clients over `procs` OS processes, start them together, watch their CPU, merge their results.

`run_load(config, on_progress)` is the whole run: it spawns the processes (each runs
`emulator.loadgen.runner.run_process` on its own event loop, uvloop when installed), waits until every
one has logged its clients in, gives them one common start time, samples the CPU of itself and of every
process with psutil over the measured window, and returns the merged `Report`.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

import psutil

from emulator.loadgen.client import now_us
from emulator.loadgen.runner import PROGRESS_SLOTS, LoadConfig, run_process
from emulator.loadgen.stats import CpuUse, ProcessResult, Report, merge

log = logging.getLogger("emulator.loadgen")

START_DELAY_S = 0.3  # between the last "ready" and the common start: time to deliver "start" to everyone


@dataclass(frozen=True)
class Progress:
    phase: str  # connecting, running, draining, done
    elapsed_s: float
    connected: int
    sent: int
    received: int


def _child(config: LoadConfig, proc: int, pipe: Connection, counters: Any) -> None:
    base = proc * PROGRESS_SLOTS

    def publish(slot: int, value: int) -> None:
        counters[base + slot] = value

    try:
        import uvloop

        runner: asyncio.Runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.Runner()
    try:
        with runner:
            result = runner.run(run_process(config, proc, pipe, publish))
    except BaseException as exc:
        failed = ProcessResult(clients=len(config.indexes(proc)))
        failed.connect_failed = failed.clients
        failed.error(f"load generator process {proc} failed: {exc!r}")
        pipe.send(("result", failed))
        raise
    pipe.send(("result", result))


class _Fleet:
    """The child processes, their pipes and shared counters."""

    def __init__(self, config: LoadConfig) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.counters: Any = ctx.Array("q", config.procs * PROGRESS_SLOTS, lock=False)
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for proc in range(config.procs):
            parent, child = ctx.Pipe()
            process = ctx.Process(
                target=_child, args=(config, proc, child, self.counters), name=f"loadgen-{proc}", daemon=True
            )
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    def totals(self) -> tuple[int, int, int]:
        values = list(self.counters)
        return (
            sum(values[0::PROGRESS_SLOTS]),
            sum(values[1::PROGRESS_SLOTS]),
            sum(values[2::PROGRESS_SLOTS]),
        )

    def cpu_seconds(self) -> list[float]:
        """CPU seconds so far of this process, then of each child (0 for one that is gone)."""
        out: list[float] = []
        for pid in [None, *(p.pid for p in self.processes)]:
            try:
                times = psutil.Process(pid).cpu_times()
                out.append(times.user + times.system)
            except psutil.Error:
                out.append(0.0)
        return out

    def stop(self) -> None:
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()


def _receive(fleet: _Fleet, kind: str, deadline: float, tick: Callable[[], None]) -> list[Any]:
    """One `(kind, value)` message from every child; a child that dies or times out gives None."""
    values: list[Any] = [None] * len(fleet.pipes)
    waiting = set(range(len(fleet.pipes)))
    while waiting and time.monotonic() < deadline:
        for i in list(waiting):
            pipe = fleet.pipes[i]
            try:
                if pipe.poll():
                    got, value = pipe.recv()
                    if got == kind or got == "result":
                        values[i] = (got, value)
                        waiting.discard(i)
                elif not fleet.processes[i].is_alive():
                    waiting.discard(i)
            except (EOFError, OSError):
                waiting.discard(i)
        tick()
        time.sleep(0.05)
    return values


def run_load(
    config: LoadConfig,
    on_progress: Callable[[Progress], None] | None = None,
    on_window: Callable[[str], None] | None = None,
) -> Report:
    """The whole run; `on_window("start")` / `on_window("end")` are called at the edges of the measured window
    (from this thread, right after this process's own CPU samples), for a caller that samples more there."""
    t0 = time.monotonic()
    fleet = _Fleet(config)
    phase = "connecting"

    def tick() -> None:
        if on_progress is not None:
            connected, sent, received = fleet.totals()
            on_progress(Progress(phase, time.monotonic() - t0, connected, sent, received))

    results: list[ProcessResult] = []
    cpu = CpuUse(wall_s=0.0, per_process_pct=())
    try:
        connect_deadline = time.monotonic() + config.connect_timeout + config.clients / 20 + 30
        ready = _receive(fleet, "ready", connect_deadline, tick)
        early = [v[1] for v in ready if v is not None and v[0] == "result"]
        start_us = now_us() + int(START_DELAY_S * 1_000_000)
        for pipe, answer in zip(fleet.pipes, ready, strict=True):
            if answer is not None and answer[0] == "ready":
                pipe.send(("start", start_us))
        phase = "running"
        cpu = _measure_window(fleet, config, start_us, tick, on_window or _ignore)
        phase = "draining"
        end_deadline = time.monotonic() + config.drain + 60
        finals = _receive(fleet, "result", end_deadline, tick)
        results = early + [v[1] for v in finals if v is not None and v[0] == "result"]
        missing = sum(1 for v in finals if v is None) - len(early)
        if missing > 0:
            lost = ProcessResult()
            lost.error(f"{missing} load generator process(es) returned no result")
            results.append(lost)
        phase = "done"
        tick()
    finally:
        fleet.stop()
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}
    return Report(settings=settings, result=merge(results), duration_s=config.duration, cpu=cpu)


def _sleep_until_us(target_us: int, tick: Callable[[], None]) -> None:
    while (left := target_us - now_us()) > 0:
        tick()
        time.sleep(min(0.1, left / 1_000_000))


def _ignore(edge: str) -> None:
    pass


def _measure_window(
    fleet: _Fleet,
    config: LoadConfig,
    start_us: int,
    tick: Callable[[], None],
    on_window: Callable[[str], None],
) -> CpuUse:
    window_start = start_us + int(config.warmup * 1_000_000)
    _sleep_until_us(window_start, tick)
    before, t_before = fleet.cpu_seconds(), time.monotonic()
    on_window("start")
    _sleep_until_us(window_start + int(config.duration * 1_000_000), tick)
    after, t_after = fleet.cpu_seconds(), time.monotonic()
    on_window("end")
    return cpu_use(before, after, t_after - t_before)


def cpu_use(before: Sequence[float], after: Sequence[float], wall_s: float) -> CpuUse:
    """% of one core used by each process between two `cpu_seconds()` samples."""
    if wall_s <= 0:
        return CpuUse(wall_s=0.0, per_process_pct=tuple(0.0 for _ in before))
    pcts = tuple(round(100.0 * max(0.0, a - b) / wall_s, 1) for b, a in zip(before, after, strict=True))
    return CpuUse(wall_s=wall_s, per_process_pct=pcts)

"""Counting and arithmetic: per-process results, their merge, percentiles, and the final report.

`ProcessResult` is what one load-generator process measured (picklable, sent back over a pipe);
`merge` adds them up; `build_report` turns the sum and the CPU figures into a `Report`, whose
`as_dict()` is the `--json` object.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_ERROR_SAMPLES = 10
CPU_WARN_PCT = 70.0  # % of one core per process above which the load generator may be the bottleneck


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (the value below which p % of samples fall); None without samples."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = math.ceil(p / 100.0 * n)
    return sorted_values[min(n - 1, max(0, rank - 1))]


def summary(values: Iterable[float]) -> dict[str, float | int | None]:
    """n, p50, p90, p99, max and mean of `values`, rounded to 0.01."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    out: dict[str, float | int | None] = {"n": len(ordered)}
    for p in (50, 90, 99):
        value = percentile(ordered, p)
        out[f"p{p}"] = None if value is None else round(value, 2)
    out["max"] = round(ordered[-1], 2)
    out["mean"] = round(math.fsum(ordered) / len(ordered), 2)
    return out


@dataclass
class ProcessResult:
    """What one load-generator process saw, for its share of the clients."""

    clients: int = 0
    logged_in: int = 0
    connect_failed: int = 0
    connect_ms: array[float] = field(default_factory=lambda: array("d"))
    login_ms: array[float] = field(default_factory=lambda: array("d"))
    sent_total: int = 0
    sent_measured: int = 0  # due in the measured window, sent or not
    send_failed: int = 0
    received_measured: int = 0
    received_total: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    other_events: int = 0
    latency_ms: array[float] = field(default_factory=lambda: array("d"))
    disconnects: int = 0
    server_errors: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    send_lag_ms_max: float = 0.0

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(text)


_SUMMED = (
    "clients",
    "logged_in",
    "connect_failed",
    "sent_total",
    "sent_measured",
    "send_failed",
    "received_measured",
    "received_total",
    "duplicates",
    "out_of_order",
    "other_events",
    "disconnects",
    "server_errors",
    "errors",
)


def merge(results: Iterable[ProcessResult]) -> ProcessResult:
    """One result for all processes: counts added, samples concatenated, error samples capped."""
    total = ProcessResult()
    for result in results:
        for name in _SUMMED:
            setattr(total, name, getattr(total, name) + getattr(result, name))
        total.connect_ms.extend(result.connect_ms)
        total.login_ms.extend(result.login_ms)
        total.latency_ms.extend(result.latency_ms)
        room = MAX_ERROR_SAMPLES - len(total.error_samples)
        total.error_samples.extend(result.error_samples[: max(0, room)])
        total.send_lag_ms_max = max(total.send_lag_ms_max, result.send_lag_ms_max)
    return total


@dataclass(frozen=True)
class CpuUse:
    """The load generator's own CPU over the measured window, in % of one core per process."""

    wall_s: float
    per_process_pct: tuple[float, ...]

    @property
    def total_pct(self) -> float:
        return round(sum(self.per_process_pct), 1)

    @property
    def busiest_pct(self) -> float:
        return max(self.per_process_pct, default=0.0)

    @property
    def saturated(self) -> bool:
        return self.busiest_pct > CPU_WARN_PCT


@dataclass(frozen=True)
class Report:
    settings: dict[str, Any]
    result: ProcessResult
    duration_s: float
    cpu: CpuUse

    @property
    def expected(self) -> int:
        """Each measured message should reach every other logged-in client."""
        return self.result.sent_measured * max(0, self.result.logged_in - 1)

    @property
    def loss_pct(self) -> float:
        if self.expected == 0:
            return 0.0
        missing = max(0, self.expected - self.result.received_measured)
        return round(100.0 * missing / self.expected, 3)

    @property
    def deliveries_per_s(self) -> float:
        return round(self.result.received_measured / self.duration_s, 1) if self.duration_s > 0 else 0.0

    @property
    def warnings(self) -> list[str]:
        out: list[str] = []
        if self.cpu.saturated:
            out.append(
                f"the load generator used {self.cpu.busiest_pct:.0f}% of a core in one process "
                f"(> {CPU_WARN_PCT:.0f}%): it may be the bottleneck; add --procs"
            )
        if self.result.connect_failed:
            out.append(f"{self.result.connect_failed} of {self.result.clients} clients did not log in")
        return out

    @property
    def ok(self) -> bool:
        r = self.result
        return (
            r.errors == 0
            and r.connect_failed == 0
            and r.send_failed == 0
            and self.loss_pct == 0.0
            and r.duplicates == 0
        )

    def as_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "settings": self.settings,
            "clients": r.clients,
            "logged_in": r.logged_in,
            "connect_failed": r.connect_failed,
            "connect_ms": summary(r.connect_ms),
            "login_ms": summary(r.login_ms),
            "duration_s": round(self.duration_s, 3),
            "sent": r.sent_total,
            "sent_measured": r.sent_measured,
            "send_failed": r.send_failed,
            "expected": self.expected,
            "received": r.received_measured,
            "loss_pct": self.loss_pct,
            "duplicates": r.duplicates,
            "out_of_order": r.out_of_order,
            "deliveries_per_s": self.deliveries_per_s,
            "latency_ms": summary(r.latency_ms),
            "send_lag_ms_max": round(r.send_lag_ms_max, 2),
            "other_events": r.other_events,
            "disconnects": r.disconnects,
            "server_errors": r.server_errors,
            "errors": r.errors,
            "error_samples": list(r.error_samples),
            "cpu": {
                "wall_s": round(self.cpu.wall_s, 3),
                "per_process_pct": list(self.cpu.per_process_pct),
                "total_pct": self.cpu.total_pct,
                "busiest_pct": self.cpu.busiest_pct,
                "saturated": self.cpu.saturated,
            },
            "warnings": self.warnings,
            "ok": self.ok,
        }

"""Metric datapoints and the statistics CloudWatch computes over a period.

A published datum is a `StatisticSet` (SampleCount, Sum, Minimum, Maximum), as ECS publishes one
aggregated `CPUUtilization` datum per minute across a service's RUNNING tasks (reference 4.1).
`MetricStore` keeps them in memory and answers "the statistic of each period" for an alarm.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from emulator.model import MetricAlarm, Statistic

MetricKey = tuple[str, str, tuple[tuple[str, str], ...]]  # namespace, metric name, sorted dimensions


def metric_key(namespace: str, metric_name: str, dimensions: Iterable[tuple[str, str]]) -> MetricKey:
    """The identity of a metric: CloudWatch matches dimensions exactly (all of them, any order)."""
    return (namespace, metric_name, tuple(sorted(dimensions)))


def alarm_metric_key(alarm: MetricAlarm) -> MetricKey:
    return metric_key(alarm.namespace, alarm.metric_name, alarm.dimensions)


@dataclass(frozen=True)
class StatisticSet:
    sample_count: float
    sum: float
    minimum: float
    maximum: float

    @staticmethod
    def of(values: Sequence[float]) -> StatisticSet:
        if not values:
            raise ValueError("a statistic set needs at least one value")
        return StatisticSet(len(values), float(sum(values)), float(min(values)), float(max(values)))

    def merge(self, other: StatisticSet) -> StatisticSet:
        return StatisticSet(
            self.sample_count + other.sample_count,
            self.sum + other.sum,
            min(self.minimum, other.minimum),
            max(self.maximum, other.maximum),
        )

    def statistic(self, statistic: Statistic) -> float:
        if statistic == "SampleCount":
            return self.sample_count
        if statistic == "Sum":
            return self.sum
        if statistic == "Minimum":
            return self.minimum
        if statistic == "Maximum":
            return self.maximum
        return self.sum / self.sample_count


class MetricStore:
    """In-memory raw data, bucketed by minute; periods are whole minutes (reference 1.3 [inf])."""

    def __init__(self, retention_seconds: int = 2 * 86_400) -> None:
        self._minutes: dict[MetricKey, dict[int, StatisticSet]] = defaultdict(dict)
        self._retention_minutes = retention_seconds // 60

    def put(self, key: MetricKey, timestamp: float, data: StatisticSet) -> None:
        minute = int(timestamp // 60)
        series = self._minutes[key]
        previous = series.get(minute)
        series[minute] = data if previous is None else previous.merge(data)
        if len(series) > 2 * (self._retention_minutes + 1):
            for stale in [m for m in series if m < minute - self._retention_minutes]:
                del series[stale]

    def period_values(
        self, key: MetricKey, statistic: Statistic, period: int, count: int, end: float
    ) -> list[float | None]:
        """The statistic of the `count` whole periods ending by `end`, oldest first (None = missing)."""
        series = self._minutes.get(key, {})
        per = max(1, period // 60)
        last_end = int(end // period) * period // 60
        values: list[float | None] = []
        for k in range(count, 0, -1):
            start = last_end - k * per
            merged: StatisticSet | None = None
            for minute in range(start, start + per):
                data = series.get(minute)
                if data is not None:
                    merged = data if merged is None else merged.merge(data)
            values.append(None if merged is None else merged.statistic(statistic))
        return values

    def latest(self, key: MetricKey, statistic: Statistic = "Average") -> float | None:
        """The statistic of the newest minute that has data (None when there is none)."""
        series = self._minutes.get(key)
        if not series:
            return None
        return series[max(series)].statistic(statistic)

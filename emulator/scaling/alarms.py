"""CloudWatch metric alarm evaluation (reference 1.2-1.9).

`evaluate_slots` is the reference's algorithm over an evaluation range of N+2 slots ('X' breaching,
'0' not breaching, '-' missing); it reproduces the documented truth table of 1.9. `evaluate_alarm`
feeds it the alarm's periods from a `MetricStore` and keeps the evaluated datapoints, which step
scaling aggregates into its breach delta (reference 2.1), with their SampleCount, from which target
tracking reads how many tasks produced the metric (ECS sends one sample per RUNNING task, reference 4.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from emulator.model import AlarmState, ComparisonOperator, MetricAlarm, TreatMissingData
from emulator.scaling.metrics import MetricStore, alarm_metric_key

Slot = Literal["X", "0", "-"]
INITIAL_STATE: AlarmState = "INSUFFICIENT_DATA"  # a new alarm starts here (reference 1.2)


def breaches(value: float, operator: ComparisonOperator, threshold: float) -> bool:
    """The metric is the left operand (reference 1.6)."""
    if operator == "GreaterThanOrEqualToThreshold":
        return value >= threshold
    if operator == "GreaterThanThreshold":
        return value > threshold
    if operator == "LessThanThreshold":
        return value < threshold
    return value <= threshold


def evaluation_window(slots: Sequence[Slot], n: int) -> list[int]:
    """Indices of the N slots evaluated when fewer than N real points exist (reference 1.8)."""
    window = list(range(len(slots) - n, len(slots)))
    older_real = [i for i, s in enumerate(slots) if s != "-" and i < window[0]]
    for i in reversed(older_real):  # pull older real points in, replacing the oldest missing slots
        missing = [j for j in window if slots[j] == "-"]
        if not missing:
            break
        window.remove(missing[0])
        window.append(i)
    return sorted(window)


def evaluated_slots(slots: Sequence[Slot], n: int) -> list[int]:
    """Indices of the N datapoints CloudWatch evaluates in this range, oldest first."""
    real = [i for i, s in enumerate(slots) if s != "-"]
    if len(real) >= n:
        return real[-n:]
    return evaluation_window(slots, n)


def evaluate_slots(
    slots: Sequence[Slot], n: int, m: int, treat: TreatMissingData, current: AlarmState
) -> AlarmState:
    """The alarm's new state from an evaluation range of slots, oldest first (reference 1.9)."""
    indices = evaluated_slots(slots, n)
    evaluated = [slots[i] for i in indices]
    if "-" not in evaluated:
        return "ALARM" if evaluated.count("X") >= m else "OK"
    if treat in ("breaching", "notBreaching"):
        fill: Slot = "X" if treat == "breaching" else "0"
        filled = [fill if s == "-" else s for s in evaluated]
        return "ALARM" if filled.count("X") >= m else "OK"
    breaching, not_breaching = evaluated.count("X"), evaluated.count("0")
    if breaching >= m:
        return "ALARM"
    if not_breaching:
        return "OK"
    if treat == "ignore":
        return current
    if breaching == 0:
        return "INSUFFICIENT_DATA"
    return "ALARM" if evaluated[0] == "X" else "INSUFFICIENT_DATA"  # 'missing': oldest evaluated breaching


@dataclass(frozen=True)
class AlarmEvaluation:
    alarm_name: str
    state: AlarmState
    previous_state: AlarmState
    evaluated_values: tuple[float, ...]  # the real datapoints among the N evaluated, oldest first
    recent_values: tuple[float | None, ...]  # the whole evaluation range, oldest first
    threshold: float
    timestamp: float
    evaluated_sample_counts: tuple[float, ...] = ()  # SampleCount of each evaluated datapoint

    @property
    def changed(self) -> bool:
        return self.state != self.previous_state

    @property
    def reason(self) -> str:
        shown = ", ".join(f"{v:g}" for v in self.evaluated_values) or "no datapoints"
        return f"Threshold Crossed: [{shown}] evaluated against threshold {self.threshold:g}: {self.state}."

    def reason_data(self, alarm: MetricAlarm) -> dict[str, object]:
        """The StateReasonData a scaling policy reads (reference 1.12)."""
        return {
            "version": "1.0",
            "statistic": alarm.statistic,
            "period": alarm.period,
            "recentDatapoints": list(self.evaluated_values),
            "threshold": alarm.threshold,
            "evaluatedDatapoints": [v for v in self.recent_values if v is not None],
        }


def datapoints_to_alarm(alarm: MetricAlarm) -> int:
    return alarm.datapoints_to_alarm if alarm.datapoints_to_alarm is not None else alarm.evaluation_periods


def evaluate_alarm(
    alarm: MetricAlarm, store: MetricStore, now: float, current: AlarmState
) -> AlarmEvaluation:
    """Evaluate `alarm` at `now` over its evaluation range of N+2 whole periods."""
    n = alarm.evaluation_periods
    values = store.period_values(alarm_metric_key(alarm), alarm.statistic, alarm.period, n + 2, now)
    slots: list[Slot] = [
        "-" if v is None else ("X" if breaches(v, alarm.comparison_operator, alarm.threshold) else "0")
        for v in values
    ]
    state = evaluate_slots(slots, n, datapoints_to_alarm(alarm), alarm.treat_missing_data, current)
    real = [i for i in evaluated_slots(slots, n) if values[i] is not None]
    counts = store.period_values(alarm_metric_key(alarm), "SampleCount", alarm.period, n + 2, now)
    return AlarmEvaluation(
        alarm.alarm_name,
        state,
        current,
        tuple(v for i in real if (v := values[i]) is not None),
        tuple(values),
        alarm.threshold,
        now,
        tuple(c for i in real if (c := counts[i]) is not None),
    )

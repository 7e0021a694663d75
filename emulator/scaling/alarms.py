"""CloudWatch metric alarm evaluation (reference 1.2-1.9).

`evaluate_slots` is the reference's algorithm over an evaluation range of N+2 slots ('X' breaching,
'0' not breaching, '-' missing); it reproduces the documented truth table of 1.9. `evaluate_alarm`
feeds it the alarm's periods from a `MetricStore` and keeps the evaluated datapoints, which step
scaling aggregates into its breach delta (reference 2.1), with their SampleCount, from which target
tracking reads how many tasks produced the metric (ECS sends one sample per RUNNING task, reference 4.1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
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
    evaluated_times: tuple[float, ...] = ()  # the start of each evaluated datapoint's period

    @property
    def changed(self) -> bool:
        return self.state != self.previous_state

    def reason(self, alarm: MetricAlarm, at: Callable[[float], datetime]) -> str:
        """StateReason as CloudWatch words it, e.g. "Threshold Crossed: 1 datapoint [75.0 (01/12/26 12:46:00)]
        was greater than or equal to the threshold (70.0).", with `at` turning clock seconds into datetimes."""
        if not self.evaluated_values:
            n = alarm.evaluation_periods
            return f"Insufficient Data: {n} datapoint{'s were' if n > 1 else ' was'} unknown."
        shown = ", ".join(
            f"{_number(v)} ({at(t):%d/%m/%y %H:%M:%S})"
            for v, t in zip(self.evaluated_values, self.evaluated_times, strict=False)
        )
        words = _OPERATOR_WORDS[alarm.comparison_operator]
        count = len(self.evaluated_values)
        breaching = sum(
            breaches(v, alarm.comparison_operator, alarm.threshold) for v in self.evaluated_values
        )
        if self.state == "ALARM":
            verb = "was" if breaching == 1 else "were"
            told = (
                f"{breaching} datapoint" if count == 1 else f"{breaching} out of the last {count} datapoints"
            )
            relation = words
        else:
            verb = "was" if count == 1 else "were"
            told = "1 datapoint" if count == 1 else f"{count} out of the last {count} datapoints"
            relation = f"not {words}"
        text = f"Threshold Crossed: {told} [{shown}] {verb} {relation} the threshold ({_number(alarm.threshold)})."
        if self.changed and self.state in ("ALARM", "OK") and self.previous_state in ("ALARM", "OK"):
            needed = datapoints_to_alarm(alarm) if self.state == "ALARM" else 1
            plural = "s" if needed > 1 else ""
            text = f"{text[:-1]} (minimum {needed} datapoint{plural} for {self.previous_state} -> {self.state} transition)."
        return text

    def reason_data(self, alarm: MetricAlarm, at: Callable[[float], datetime]) -> dict[str, object]:
        """StateReasonData in CloudWatch's format (the fields a scaling policy and a user's alerting read,
        reference 1.12)."""
        start = self.timestamp - alarm.period * alarm.evaluation_periods
        return {
            "version": "1.0",
            "queryDate": _iso(at(self.timestamp)),
            "startDate": _iso(at(start)),
            "statistic": alarm.statistic,
            "period": alarm.period,
            "recentDatapoints": list(self.evaluated_values),
            "threshold": float(alarm.threshold),
            "evaluatedDatapoints": [
                {"timestamp": _iso(at(t)), "sampleCount": float(c), "value": v}
                for v, t, c in zip(
                    self.evaluated_values,
                    self.evaluated_times,
                    self.evaluated_sample_counts or (1.0,) * len(self.evaluated_values),
                    strict=False,
                )
            ],
        }


_OPERATOR_WORDS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


def _number(value: float) -> str:
    """CloudWatch shows datapoints and thresholds as floats: 70.0, 0.33."""
    return repr(float(round(value, 6)))


def _iso(moment: datetime) -> str:
    """CloudWatch's timestamp format in StateReasonData: 2026-12-01T12:46:00.000+0000."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + moment.strftime("%z")


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
    last_end = (now // alarm.period) * alarm.period
    starts = [last_end - (n + 2 - i) * alarm.period for i in range(n + 2)]
    return AlarmEvaluation(
        alarm.alarm_name,
        state,
        current,
        tuple(v for i in real if (v := values[i]) is not None),
        tuple(values),
        alarm.threshold,
        now,
        tuple(c for i in real if (c := counts[i]) is not None),
        tuple(starts[i] for i in real),
    )

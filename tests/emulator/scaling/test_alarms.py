"""CloudWatch alarm evaluation: the documented truth table, M of N, operators, statistics."""

from __future__ import annotations

import pytest

from emulator.model import AlarmState, MetricAlarm, TreatMissingData
from emulator.scaling.alarms import Slot, breaches, evaluate_alarm, evaluate_slots
from emulator.scaling.metrics import MetricStore, StatisticSet, alarm_metric_key

MODES: tuple[TreatMissingData, ...] = ("missing", "ignore", "breaching", "notBreaching")
INS, R = "INSUFFICIENT_DATA", "retain"

# reference 1.9: (M, N, points oldest first, results for MISSING / IGNORE / BREACHING / NOT BREACHING)
TRUTH_TABLE = [
    (3, 3, "0-X-X", ("OK", "OK", "OK", "OK")),
    (3, 3, "0----", ("OK", "OK", "OK", "OK")),
    (3, 3, "-----", (INS, R, "ALARM", "OK")),
    (3, 3, "0XX-X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    (3, 3, "----X", (INS, R, "ALARM", "OK")),
    (3, 3, "X----", ("ALARM", R, "ALARM", "OK")),
    (2, 3, "0-X-X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    (2, 3, "00X0X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    (2, 3, "0-X--", ("OK", "OK", "ALARM", "OK")),
    (2, 3, "----0", ("OK", "OK", "ALARM", "OK")),
    (2, 3, "----X", (INS, R, "ALARM", "OK")),
]


@pytest.mark.parametrize(("m", "n", "points", "expected"), TRUTH_TABLE)
@pytest.mark.parametrize("current", ["OK", "ALARM", "INSUFFICIENT_DATA"])
def test_documented_truth_table(
    m: int, n: int, points: str, expected: tuple[str, ...], current: AlarmState
) -> None:
    slots: list[Slot] = list(points)  # type: ignore[arg-type]
    for mode, want in zip(MODES, expected, strict=True):
        assert evaluate_slots(slots, n, m, mode, current) == (current if want == R else want), mode


@pytest.mark.parametrize(
    ("points", "m", "n", "state"),
    [
        ("00XXX", 3, 3, "ALARM"),
        ("00X0X", 3, 3, "OK"),
        ("0XX0X", 3, 4, "ALARM"),  # 3 of 4, not consecutive
        ("0X00X", 3, 4, "OK"),
        ("0000X", 1, 1, "ALARM"),
        ("XXXX0", 1, 1, "OK"),
    ],
)
def test_m_out_of_n_need_not_be_consecutive(points: str, m: int, n: int, state: str) -> None:
    slots: list[Slot] = list(points)  # type: ignore[arg-type]
    assert evaluate_slots(slots, n, m, "missing", "OK") == state


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("GreaterThanOrEqualToThreshold", 70.0, True),
        ("GreaterThanOrEqualToThreshold", 69.9, False),
        ("GreaterThanThreshold", 70.0, False),
        ("GreaterThanThreshold", 70.1, True),
        ("LessThanThreshold", 70.0, False),
        ("LessThanThreshold", 69.9, True),
        ("LessThanOrEqualToThreshold", 70.0, True),
        ("LessThanOrEqualToThreshold", 70.1, False),
    ],
)
def test_comparison_operators_put_the_metric_on_the_left(operator: str, value: float, expected: bool) -> None:
    assert breaches(value, operator, 70.0) is expected  # type: ignore[arg-type]


def alarm(statistic: str = "Average", n: int = 1, m: int | None = None, period: int = 60) -> MetricAlarm:
    return MetricAlarm(
        alarm_name="a",
        namespace="AWS/ECS",
        metric_name="CPUUtilization",
        statistic=statistic,  # type: ignore[arg-type]
        period=period,
        evaluation_periods=n,
        datapoints_to_alarm=m,
        threshold=50,
        comparison_operator="GreaterThanThreshold",
    )


@pytest.mark.parametrize(
    ("statistic", "value"),
    [("Average", 40.0), ("Sum", 120.0), ("Minimum", 10.0), ("Maximum", 90.0), ("SampleCount", 3.0)],
)
def test_statistics_over_the_tasks_of_a_minute(statistic: str, value: float) -> None:
    store = MetricStore()
    a = alarm(statistic)
    store.put(alarm_metric_key(a), 0, StatisticSet.of([10.0, 20.0, 90.0]))
    result = evaluate_alarm(a, store, now=60, current="INSUFFICIENT_DATA")
    assert result.evaluated_values == (value,)
    assert result.state == ("ALARM" if value > 50 else "OK")


def test_a_five_minute_period_merges_its_minutes_and_waits_for_the_period_to_end() -> None:
    store, a = MetricStore(), alarm("Average", period=300)
    key = alarm_metric_key(a)
    for minute, value in enumerate([40, 50, 60, 70, 80]):
        store.put(key, minute * 60, StatisticSet.of([value]))
    assert evaluate_alarm(a, store, now=240, current="INSUFFICIENT_DATA").state == "INSUFFICIENT_DATA"
    assert evaluate_alarm(a, store, now=300, current="INSUFFICIENT_DATA").evaluated_values == (60.0,)


def test_new_alarm_without_data_stays_insufficient_and_evaluates_real_points_of_the_range() -> None:
    store, a = MetricStore(), alarm(n=3, m=2)
    assert evaluate_alarm(a, store, now=600, current="INSUFFICIENT_DATA").state == "INSUFFICIENT_DATA"
    key = alarm_metric_key(a)
    store.put(key, 300, StatisticSet.of([90]))
    store.put(key, 480, StatisticSet.of([95]))
    result = evaluate_alarm(a, store, now=600, current="INSUFFICIENT_DATA")
    assert result.recent_values == (90.0, None, None, 95.0, None)
    assert result.state == "ALARM"  # two breaching of the three evaluated, the third missing
    assert result.evaluated_values == (90.0, 95.0)


def test_datapoints_are_dropped_after_retention() -> None:
    store, a = MetricStore(retention_seconds=600), alarm()
    key = alarm_metric_key(a)
    for minute in range(100):
        store.put(key, minute * 60, StatisticSet.of([99]))
    assert store.period_values(key, "Average", 60, 1, 60) == [None]
    assert store.period_values(key, "Average", 60, 1, 100 * 60) == [99.0]

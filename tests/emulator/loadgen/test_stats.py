"""Percentiles, the merge of per-process results, and the report's arithmetic."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.loadgen.procs import cpu_use
from emulator.loadgen.stats import (
    MAX_ERROR_SAMPLES,
    CpuUse,
    ProcessResult,
    Report,
    merge,
    percentile,
    summary,
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 90) == 90
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200))
def test_percentiles_are_samples_in_order(values: list[float]) -> None:
    ordered = sorted(values)
    p50, p90, p99 = (percentile(ordered, p) for p in (50, 90, 99))
    assert p50 is not None and p90 is not None and p99 is not None
    assert p50 <= p90 <= p99 <= ordered[-1]
    assert p50 in ordered and p99 in ordered
    # at least p % of the samples are <= the p-th percentile
    assert sum(v <= p90 for v in ordered) >= 0.9 * len(ordered)


def test_summary_of_nothing_and_of_samples() -> None:
    assert summary([])["n"] == 0 and summary([])["p99"] is None
    s = summary([4.0, 1.0, 3.0, 2.0])
    assert s == {"n": 4, "p50": 2.0, "p90": 4.0, "p99": 4.0, "max": 4.0, "mean": 2.5}


def _result(**counts: int) -> ProcessResult:
    result = ProcessResult(**counts)  # type: ignore[arg-type]
    return result


def test_merge_adds_counts_and_concatenates_samples() -> None:
    a = _result(clients=3, logged_in=3, sent_measured=10, received_measured=40, duplicates=1)
    a.latency_ms = array("d", [1.0, 2.0])
    a.login_ms = array("d", [10.0])
    a.send_lag_ms_max = 5.0
    b = _result(clients=2, logged_in=1, connect_failed=1, sent_measured=5, received_measured=20)
    b.latency_ms = array("d", [3.0])
    b.send_lag_ms_max = 2.0
    b.error("client 4: login timed out")
    total = merge([a, b])
    assert (total.clients, total.logged_in, total.connect_failed) == (5, 4, 1)
    assert (total.sent_measured, total.received_measured, total.duplicates) == (15, 60, 1)
    assert list(total.latency_ms) == [1.0, 2.0, 3.0]
    assert list(total.login_ms) == [10.0]
    assert total.errors == 1 and total.error_samples == ["client 4: login timed out"]
    assert total.send_lag_ms_max == 5.0


def test_merge_caps_error_samples_but_counts_every_error() -> None:
    parts = []
    for i in range(3):
        part = ProcessResult()
        for j in range(MAX_ERROR_SAMPLES):
            part.error(f"p{i} e{j}")
        parts.append(part)
    total = merge(parts)
    assert total.errors == 3 * MAX_ERROR_SAMPLES
    assert len(total.error_samples) == MAX_ERROR_SAMPLES


def _report(result: ProcessResult, cpu: tuple[float, ...] = (1.0, 20.0)) -> Report:
    return Report(settings={}, result=result, duration_s=2.0, cpu=CpuUse(wall_s=2.0, per_process_pct=cpu))


def test_every_measured_message_is_expected_at_every_other_logged_in_client() -> None:
    report = _report(_result(clients=10, logged_in=10, sent_measured=20, received_measured=171))
    assert report.expected == 20 * 9
    assert report.loss_pct == pytest.approx(100 * 9 / 180, abs=1e-3)
    assert report.deliveries_per_s == 85.5
    assert not report.ok


def test_a_clean_run_is_ok_and_says_so_in_json() -> None:
    data = _report(_result(clients=4, logged_in=4, sent_measured=5, received_measured=15)).as_dict()
    assert data["ok"] is True and data["loss_pct"] == 0.0 and data["warnings"] == []
    assert data["cpu"]["total_pct"] == 21.0


def test_a_busy_process_is_reported_as_a_possible_bottleneck() -> None:
    report = _report(_result(clients=4, logged_in=4), cpu=(2.0, 85.0, 40.0))
    assert report.cpu.saturated
    assert any("bottleneck" in w for w in report.warnings)


def test_cpu_use_is_percent_of_one_core_per_process() -> None:
    use = cpu_use(before=[1.0, 10.0], after=[1.5, 13.0], wall_s=4.0)
    assert use.per_process_pct == (12.5, 75.0)
    assert use.saturated

"""The report's own arithmetic: the reconnect storm's peak, the longest pause in acks, when a client was back."""

from __future__ import annotations

from emulator.chaos.report import ClientRecord, longest_gap, peak_per_second


def test_the_storm_peak_is_the_most_connections_within_one_second_after_the_fault() -> None:
    # counter sampled every 0.1 s: 5 connections at start-up (before the fault), then 3 in 0.3 s, then 4 in 1 s
    samples = [(0.0, 0), (0.5, 5), (2.0, 5), (2.1, 6), (2.2, 8), (2.3, 8), (3.5, 9), (4.0, 11), (4.5, 12)]
    peak, total = peak_per_second(samples, since=2.0)
    assert peak == 3  # 5 -> 8 within [2.0, 3.0]; the start-up burst does not count
    assert total == 7  # 5 -> 12 after the fault
    assert peak_per_second([(0.0, 0), (1.0, 4)], since=5.0) == (0, 0)


def test_longest_gap_between_acks_includes_the_edges() -> None:
    assert longest_gap([1.0, 1.5, 4.0], start=0.5, end=5.0) == 2.5
    assert longest_gap([], start=1.0, end=3.0) == 2.0
    assert longest_gap([0.1, 9.0], start=1.0, end=3.0) == 2.0  # acks outside the window do not count


def test_a_client_is_back_with_its_first_session_after_its_last_loss() -> None:
    record = ClientRecord("r0")
    record.sessions = [(0.0, False, "a"), (3.0, True, "b"), (7.0, True, "b")]
    record.losses = [(1.0, "reset"), (5.0, "no ping")]
    assert record.back_at(since=0.5) == 7.0
    assert record.back_at(since=8.0) == 8.0  # lost nothing after that
    record.losses.append((9.0, "reset"))
    assert record.back_at(since=0.5) is None  # never came back

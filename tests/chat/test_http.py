"""`HealthReport`: why a worker is unhealthy goes to its log, at a rate a flapping check cannot turn into a flood,
and to /metrics; the answer to /healthz is only ok / unhealthy. A virtual clock, no waiting."""

from __future__ import annotations

import logging

import pytest

from chat.http import LOG_GAP, REMIND_EVERY, HealthReport


class Probe:
    def __init__(self) -> None:
        self.reason: str | None = None
        self.now = 0.0

    async def __call__(self) -> str | None:
        return self.reason

    def clock(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "chat.http"]


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def report(probe: Probe, caplog: pytest.LogCaptureFixture) -> HealthReport:
    caplog.set_level(logging.INFO, logger="chat.http")
    return HealthReport(probe, clock=probe.clock)


async def test_an_outage_is_logged_once_then_reminded_then_its_end(
    probe: Probe, report: HealthReport, caplog: pytest.LogCaptureFixture
) -> None:
    assert await report.check() is None
    assert lines(caplog) == []  # healthy from the start: nothing to say
    probe.reason = "redis unreachable (ConnectionError: 10.0.0.5:6379)"
    for _ in range(20):  # a health check every 6 s would be 2 minutes; here, 20 checks within a second
        probe.now += 0.05
        assert await report.check() == probe.reason
    assert lines(caplog) == [f"unhealthy: {probe.reason}"]
    probe.now += REMIND_EVERY
    await report.check()
    assert len(lines(caplog)) == 2  # still the same problem, said again a minute later
    probe.now += LOG_GAP
    probe.reason = None
    await report.check()
    assert lines(caplog)[-1] == "healthy"


async def test_a_flapping_check_does_not_flood_the_log(
    probe: Probe, report: HealthReport, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(100):  # healthy / unhealthy in turn, 100 times in 5 s
        probe.reason = None if i % 2 else "broadcast reader not following the stream"
        probe.now += 0.05
        await report.check()
    assert len(lines(caplog)) == 1
    probe.now += LOG_GAP
    await report.check()
    assert len(lines(caplog)) == 2
    assert "changes since the last report" in lines(caplog)[-1]


async def test_metrics_carry_the_health_and_its_reason(probe: Probe, report: HealthReport) -> None:
    assert "chat_healthy 0" in report.metrics().splitlines()  # not probed yet
    await report.check()
    assert report.metrics().splitlines()[2:] == [
        "chat_healthy 1",
        "# HELP chat_health_info why /healthz answers unhealthy (empty when healthy)",
        "# TYPE chat_health_info gauge",
        'chat_health_info{reason=""} 1',
    ]
    probe.reason = 'redis unreachable (TimeoutError: "slow"\nagain \\)'
    await report.check()
    text = report.metrics().splitlines()
    assert "chat_healthy 0" in text
    assert 'chat_health_info{reason="redis unreachable (TimeoutError: \\"slow\\" again \\\\)"} 1' in text

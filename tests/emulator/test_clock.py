"""The Clock seam: virtual time wakes sleepers in deadline order; scaled time divides real sleeps."""

from __future__ import annotations

import asyncio

import pytest

from emulator.clock import ScaledClock, VirtualClock, WallClock


async def test_virtual_clock_wakes_sleepers_in_deadline_order_at_their_deadline() -> None:
    clock, woke = VirtualClock(start=100.0), []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [
        asyncio.create_task(sleeper(n, s), name=f"sleeper-{n}")
        for n, s in (("b", 120), ("a", 60), ("c", 600))
    ]
    await asyncio.sleep(0)
    await clock.advance(300)
    assert woke == [("a", 160.0), ("b", 220.0)] and clock.now() == 400.0
    await clock.advance(300)
    assert woke[-1] == ("c", 700.0)
    await asyncio.gather(*tasks)


async def test_virtual_clock_runs_a_loop_that_sleeps_again() -> None:
    clock, ticks = VirtualClock(), []

    async def every_minute() -> None:
        while True:
            await clock.sleep(60)
            ticks.append(clock.now())

    task = asyncio.create_task(every_minute(), name="every-minute")
    await asyncio.sleep(0)
    await clock.advance(60 * 24 * 60)  # a day of minutes, no real time
    assert len(ticks) == 1440 and ticks[-1] == 86_400
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_scaled_clock_runs_faster_than_the_wall() -> None:
    clock = ScaledClock(600)
    before = clock.now()
    await clock.sleep(30)  # 0.05 s of wall time
    assert clock.now() - before >= 30


def test_scaled_clock_refuses_a_non_positive_scale() -> None:
    with pytest.raises(ValueError, match="> 0"):
        ScaledClock(0)


async def test_wall_clock_is_monotonic_and_negative_sleeps_return() -> None:
    clock = WallClock()
    first = clock.now()
    await clock.sleep(-1)
    assert clock.now() >= first

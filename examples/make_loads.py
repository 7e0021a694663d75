"""Writes the example load files (deterministic): `python examples/make_loads.py`.

Demand is in vCPUs: the total CPU the chat service would use with unlimited tasks. The seed runs
1 vCPU tasks, min 2, max 10, so 1.4 vCPU is 70 % of two tasks and 10 vCPU saturates ten.
`daily-users.csv` is the same day in the chat's own terms: open connections, and the messages per second they
send (one message per user every 100 s), for `simulate`'s cost model to turn into CPU, memory and bytes.
"""

from __future__ import annotations

import math
from pathlib import Path

from emulator.sim import write_load
from emulator.sim.load import Load

HERE = Path(__file__).resolve().parent


def steady() -> list[float]:
    """Two hours of an even 0.9 vCPU: 45 % on the two minimum tasks, nothing should happen."""
    return [0.9] * 120


def ramp() -> list[float]:
    """Quiet, a two-hour climb to 9 vCPU, half an hour at the top, a half-hour fall."""
    quiet, climb, top, fall = [0.6] * 20, 120, [9.0] * 30, 30
    up = [0.6 + (9.0 - 0.6) * i / climb for i in range(climb)]
    down = [9.0 - (9.0 - 0.6) * i / fall for i in range(fall)]
    return [*quiet, *up, *top, *down, *quiet]


def spike() -> list[float]:
    """A quiet service hit by a 15-minute burst of 7 vCPU (a broadcast storm), then quiet again."""
    return [0.5] * 30 + [7.0] * 15 + [0.5] * 75


def daily() -> list[float]:
    """A day by the minute: a night trough, a lunch peak and a bigger evening peak, with ripple."""
    demand = []
    for minute in range(1440):
        hour = minute / 60
        lunch = 3.0 * math.exp(-(((hour - 12.5) / 1.5) ** 2))
        evening = 6.5 * math.exp(-(((hour - 20.0) / 1.8) ** 2))
        ripple = 0.25 * math.sin(minute / 7.0) + 0.15 * math.sin(minute / 2.3)
        demand.append(round(max(0.1, 0.7 + lunch + evening + ripple), 3))
    return demand


def daily_users(peak: float = 9000.0, messages_per_user: float = 0.01) -> Load:
    """The day of `daily()` in users: the same night trough, lunch and evening peaks and ripple, scaled so the
    evening peak holds `peak` connections."""
    shape = daily()
    top = max(shape)
    connections = [round(peak * d / top) for d in shape]
    return Load.of_users(connections, [round(c * messages_per_user, 2) for c in connections])


def main() -> None:
    for name, demand in (("steady", steady()), ("ramp", ramp()), ("spike", spike()), ("daily", daily())):
        write_load(HERE / f"{name}.csv", demand)
    write_load(HERE / "daily-users.csv", daily_users())


if __name__ == "__main__":
    main()

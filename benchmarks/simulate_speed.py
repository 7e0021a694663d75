"""The simulator's speed: days of load simulated per second of wall time.

Builds a 7-day load from `examples/make_loads.py`'s daily shape, deploys the templates into the
in-process moto once (as `chat-emulator simulate` does), then times `emulator.sim.simulate` over it,
`--reps` times, and prints each run and the median. The deploy is timed separately: it is paid once per
command, not per simulated day.

    .venv/bin/python benchmarks/simulate_speed.py [--days 7] [--reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    from make_loads import daily  # type: ignore[import-not-found]

    from emulator.commands.simulate import deployed_service
    from emulator.sim import simulate, write_load

    demand = daily() * args.days
    t0 = time.perf_counter()
    service = deployed_service(None, {})
    print(f"deploy into moto and read the service: {time.perf_counter() - t0:.2f} s (once per command)")
    speeds = []
    for rep in range(1, args.reps + 1):
        t0 = time.perf_counter()
        result = simulate(service, demand)
        wall = time.perf_counter() - t0
        speeds.append(args.days / wall)
        hours = result.summary().task_hours
        print(
            f"rep {rep}: {len(demand)} minutes ({args.days} days) in {wall:.2f} s = {args.days / wall:.1f} days/s ({hours:.0f} task-hours)"
        )
    print(f"median: {statistics.median(speeds):.1f} days simulated per second (the simulation alone)")
    with tempfile.TemporaryDirectory() as tmp:
        load = Path(tmp) / f"{args.days}days.csv"
        write_load(load, demand)
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "emulator.cli", "simulate", "--load", str(load)]
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        wall = time.perf_counter() - t0
    print(
        f"whole command (start-up, deploy, simulate, summary): `chat-emulator simulate` over {args.days} days in {wall:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

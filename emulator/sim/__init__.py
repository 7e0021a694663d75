"""The control plane's own code in virtual time: a load file in, a timeline out.

Map of the package:

- `load`    read / write `minute,demand_vcpu` load files
- `fleet`   simulated ECS tasks: PENDING for the task start time, RUNNING, draining for the delay
- `run`     `simulate(service, demand)`: one evaluation of `emulator.scaling` per minute
- `report`  the timeline CSV, the matplotlib plot (Agg) and the summary text

`chat-emulator simulate` (`emulator.commands.simulate`) wires them to the deployed templates.
"""

from __future__ import annotations

from emulator.sim.load import LoadFileError, read_load, write_load
from emulator.sim.report import plot_timeline, summary_text, write_timeline
from emulator.sim.run import Simulation, Summary, TimelineRow, simulate

__all__ = [
    "LoadFileError",
    "Simulation",
    "Summary",
    "TimelineRow",
    "plot_timeline",
    "read_load",
    "simulate",
    "summary_text",
    "write_load",
    "write_timeline",
]

"""The control plane's own code in virtual time, as a capacity planner: a load file in; a timeline, dollars and what
users feel out.

Map of the package:

- `load`       read / write load files: `minute,demand_vcpu` or `minute,connections,messages_per_s`
- `costmodel`  `CostModel`: what a connection, a delivery and a message cost a task in CPU, memory and ALB bytes;
               read from a calibration file (`calibration.json`, written by `chat-emulator calibrate`)
- `fleet`      simulated ECS tasks and their target group: starts, health checks, drains; per-task connections behind
               a sticky ALB; the CPU and connections they report; each minute's usage (billed, used, over capacity)
- `account`    the in-memory account the control loop runs against
- `run`        `simulate(service, load, options=Options(...))`: the live `ControlLoop` in virtual time; `Summary`
- `cost`       `PriceTable` (`prices.json`, dated, with its sources) and `bill_of`: Fargate, ALB hours + LCUs, ElastiCache
- `report`     the timeline CSV, the summary text, the plots (Agg), the `--compare` table and figure

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

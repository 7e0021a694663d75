"""What a simulation hands back: the timeline CSV, the plot, and the summary."""

from __future__ import annotations

import csv
from pathlib import Path

from emulator.sim.run import Simulation, Summary

TIMELINE_HEADER = (
    "minute",
    "demand_vcpu",
    "cpu_percent",
    "desired",
    "running",
    "alarm_high",
    "alarm_low",
    "activity",
)


def write_timeline(path: Path, simulation: Simulation) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TIMELINE_HEADER)
        for row in simulation.rows:
            writer.writerow(
                (
                    row.minute,
                    f"{row.demand_vcpu:g}",
                    "" if row.cpu_percent is None else f"{row.cpu_percent:.2f}",
                    row.desired,
                    row.running,
                    row.alarm_high,
                    row.alarm_low,
                    row.activity.description if row.activity else "",
                )
            )


def summary_text(summary: Summary) -> str:
    return "\n".join(
        (
            f"minutes simulated:        {summary.minutes}",
            f"task-hours:               {summary.task_hours:.2f}",
            f"minutes above high alarm: {summary.minutes_above_high_threshold}",
            f"scaling activities:       {summary.scaling_activities}",
            f"peak tasks:               {summary.peak_tasks}",
        )
    )


def plot_timeline(path: Path, simulation: Simulation, title: str = "") -> None:
    """Load and CPU on top; desired and running tasks below; the alarms' thresholds dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = simulation.rows
    minutes = [r.minute for r in rows]
    figure, (load_axis, task_axis) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    load_axis.plot(minutes, [r.demand_vcpu for r in rows], color="tab:blue", label="demand (vCPU)")
    load_axis.set_ylabel("demand (vCPU)")
    cpu_axis = load_axis.twinx()
    cpu_axis.plot(minutes, [r.cpu_percent for r in rows], color="tab:red", linewidth=0.8, label="CPU %")
    for alarm in (simulation.high_alarm, simulation.low_alarm):
        if alarm is not None:
            cpu_axis.axhline(alarm.threshold, color="tab:red", linestyle="--", linewidth=0.6)
    cpu_axis.set_ylabel("CPUUtilization (%)")
    cpu_axis.set_ylim(0, 105)
    task_axis.step(minutes, [r.desired for r in rows], where="post", label="desired", color="tab:green")
    task_axis.step(
        minutes, [r.running for r in rows], where="post", label="running", color="black", linewidth=0.8
    )
    task_axis.set_ylabel("tasks")
    task_axis.set_xlabel("minute")
    task_axis.legend(loc="upper left")
    load_axis.legend(
        [*load_axis.get_lines(), *cpu_axis.get_lines()[:1]], ["demand (vCPU)", "CPU %"], loc="upper left"
    )
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)

"""What a simulation hands back: the timeline CSV, the summary (text and JSON), the plot, and the comparison of
several policies over one load (table and figure)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emulator.model import MetricAlarm
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
    "connections",
    "messages_per_s",
    "connections_per_task",
    "over_capacity_s",
    "moved_connections",
    "cost_usd",
)


def _number(value: float | None, spec: str = "g") -> str:
    return "" if value is None else format(value, spec)


def write_timeline(path: Path, simulation: Simulation) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TIMELINE_HEADER)
        for row in simulation.rows:
            writer.writerow(
                (
                    row.minute,
                    f"{row.demand_vcpu:.6g}",
                    _number(row.cpu_percent, ".2f"),
                    row.desired,
                    row.running,
                    row.alarm_high,
                    row.alarm_low,
                    row.activity.description if row.activity else "",
                    _number(row.connections),
                    _number(row.messages_per_s),
                    _number(row.connections_per_task, ".1f"),
                    f"{row.over_capacity_seconds:g}",
                    f"{row.moved_connections:.6g}",
                    _number(row.cost_usd, ".4f"),
                )
            )


def summary_text(summary: Summary, region: str = "", price_date: str = "") -> str:
    rows = [
        ("minutes simulated", f"{summary.minutes}"),
        ("peak tasks", f"{summary.peak_tasks}"),
        ("task-hours", f"{summary.task_hours:.2f}"),
        (
            "scaling activities",
            f"{summary.scaling_activities} ({summary.scaling_activities_per_hour:.2f} per hour)",
        ),
        ("minutes above high CPU alarm", f"{summary.minutes_above_high_threshold}"),
        (
            "minutes over capacity",
            f"{summary.minutes_over_capacity}  (users on some task wait: CPU or memory short, or no task)",
        ),
        ("vCPU-hours paid / idle", f"{summary.paid_vcpu_hours:.2f} / {summary.idle_vcpu_hours:.2f}"),
        (
            "connections moved",
            f"{summary.connections_moved:.0f}"
            f"  (largest reconnect wave {summary.largest_reconnect_wave_per_s:.0f}/s at the ALB)",
        ),
    ]
    lines = [f"{label + ':':30}{value}" for label, value in rows]
    bill = summary.bill
    if bill is not None:
        where = f" ({region}, prices of {price_date})" if region else ""
        lines.append(
            f"cost{where}: ${bill.total:.2f} = Fargate ${bill.fargate:.2f}"
            f" + ALB ${bill.alb_hours:.2f} + {bill.lcu_hours:.2f} LCU-hours ${bill.alb_lcu:.2f}"
            f" + ElastiCache ${bill.elasticache:.2f}"
        )
    return "\n".join(lines)


COMPARE_COLUMNS = (
    ("policy", "{}"),
    ("cost $", "{:.2f}"),
    ("peak tasks", "{}"),
    ("task-hours", "{:.1f}"),
    ("over capacity (min)", "{}"),
    ("idle vCPU-h", "{:.1f}"),
    ("activities/h", "{:.2f}"),
    ("moved", "{:.0f}"),
    ("wave /s", "{:.0f}"),
)


def comparison_rows(results: Sequence[tuple[str, Summary]]) -> list[tuple[Any, ...]]:
    return [
        (
            name,
            s.bill.total if s.bill is not None else float("nan"),
            s.peak_tasks,
            s.task_hours,
            s.minutes_over_capacity,
            s.idle_vcpu_hours,
            s.scaling_activities_per_hour,
            s.connections_moved,
            s.largest_reconnect_wave_per_s,
        )
        for name, s in results
    ]


def comparison_table(results: Sequence[tuple[str, Summary]]) -> str:
    """A fixed-width table, one policy per row."""
    cells = [
        [spec.format(v) for (_, spec), v in zip(COMPARE_COLUMNS, row, strict=True)]
        for row in comparison_rows(results)
    ]
    headers = [name for name, _ in COMPARE_COLUMNS]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    for r in cells:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


# -- plots -------------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _threshold(axis: Any, alarm: MetricAlarm, color: str, unit: str) -> None:
    """A dashed line at the alarm's threshold, labelled with what it is."""
    axis.axhline(alarm.threshold, color=color, linestyle="--", linewidth=0.7)
    axis.annotate(
        f"{_short(alarm.alarm_name)} {alarm.threshold:g}{unit}",
        xy=(1.0, alarm.threshold),
        xycoords=("axes fraction", "data"),
        xytext=(-4, 2),
        textcoords="offset points",
        ha="right",
        fontsize=7,
        color=color,
    )


def _short(alarm_name: str) -> str:
    for kind in ("AlarmHigh", "AlarmLow"):
        if f"-{kind}-" in alarm_name:
            return f"target tracking {kind}"
    return "-".join(alarm_name.split("-")[-2:])  # fargate-chat-service-high-cpu -> high-cpu


def plot_timeline(path: Path, simulation: Simulation, title: str = "") -> None:
    """Three panels over the hours of the run: the load; the metrics the alarms watch, with their thresholds
    labelled; desired (dashed) and running (filled) tasks, the minutes over capacity shaded, and the cost so far."""
    plt = _pyplot()
    rows = simulation.rows
    hours = [r.minute / 60 for r in rows]
    figure, (load_axis, metric_axis, task_axis) = plt.subplots(3, 1, sharex=True, figsize=(11, 8))

    load_axis.plot(hours, [r.demand_vcpu for r in rows], color="tab:blue", label="demand (vCPU)")
    load_axis.set_ylabel("demand (vCPU)")
    handles = list(load_axis.get_lines())
    if any(r.connections is not None for r in rows):
        users_axis = load_axis.twinx()
        users_axis.plot(
            hours, [r.connections for r in rows], color="tab:purple", linewidth=0.9, label="connections"
        )
        users_axis.set_ylabel("connections")
        handles += list(users_axis.get_lines())
    load_axis.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8)

    metric_axis.plot(
        hours, [r.cpu_percent for r in rows], color="tab:red", linewidth=0.8, label="CPUUtilization %"
    )
    metric_axis.set_ylabel("CPUUtilization (%)")
    metric_axis.set_ylim(0, 105)
    handles = list(metric_axis.get_lines())
    connections_axis = None
    if any(r.connections_per_task is not None for r in rows):
        connections_axis = metric_axis.twinx()
        connections_axis.plot(
            hours,
            [r.connections_per_task for r in rows],
            color="tab:purple",
            linewidth=0.8,
            label="ActiveConnections per task",
        )
        connections_axis.set_ylabel("connections per task")
        handles += list(connections_axis.get_lines())
    for alarm in (simulation.high_alarm, simulation.low_alarm):
        if alarm is None:
            continue
        if alarm.metric_name == "CPUUtilization":
            _threshold(metric_axis, alarm, "tab:red", " %")
        elif connections_axis is not None:
            _threshold(connections_axis, alarm, "tab:purple", "")
    metric_axis.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8)

    task_axis.fill_between(
        hours, [r.running for r in rows], step="post", color="0.6", alpha=0.5, label="running", linewidth=0
    )
    task_axis.step(
        hours, [r.desired for r in rows], where="post", color="tab:green", linestyle="--", label="desired"
    )
    for r in rows:
        if r.over_capacity_seconds > 0:
            task_axis.axvspan(r.minute / 60, (r.minute + 1) / 60, color="tab:red", alpha=0.25, linewidth=0)
    task_axis.set_ylabel("tasks")
    task_axis.set_xlabel("hour")
    task_axis.set_ylim(bottom=0)
    handles, labels = task_axis.get_legend_handles_labels()
    if any(r.over_capacity_seconds > 0 for r in rows):
        from matplotlib.patches import Patch

        handles.append(Patch(color="tab:red", alpha=0.25))
        labels.append("over capacity")
    if any(r.cost_usd is not None for r in rows):
        cost_axis = task_axis.twinx()
        (line,) = cost_axis.plot(hours, [r.cost_usd for r in rows], color="tab:orange", linewidth=1.0)
        cost_axis.set_ylabel("cost so far ($)")
        cost_axis.set_ylim(bottom=0)
        handles.append(line)
        labels.append("cost ($)")
    task_axis.legend(handles, labels, loc="upper left", fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_comparison(path: Path, results: Sequence[tuple[str, Simulation]], title: str = "") -> None:
    """Running tasks of each policy over the load (the demand shaded), and below, side by side, what each costs and
    what its users feel: dollars, minutes over capacity, connections moved by scale-in."""
    plt = _pyplot()
    figure = plt.figure(figsize=(11, 8))
    grid = figure.add_gridspec(2, 3, height_ratios=[3, 2])
    task_axis = figure.add_subplot(grid[0, :])
    first = results[0][1].rows
    hours = [r.minute / 60 for r in first]
    demand_axis = task_axis.twinx()
    demand_axis.fill_between(hours, [r.demand_vcpu for r in first], color="tab:blue", alpha=0.12, linewidth=0)
    demand_axis.set_ylabel("demand (vCPU, shaded)")
    colors = [f"C{i}" for i in range(len(results))]
    for (name, simulation), color in zip(results, colors, strict=True):
        running = [r.running for r in simulation.rows]
        task_axis.step(hours, running, where="post", label=name, linewidth=1.0, color=color)
    task_axis.set_ylabel("running tasks")
    task_axis.set_xlabel("hour")
    task_axis.set_zorder(demand_axis.get_zorder() + 1)
    task_axis.patch.set_visible(False)
    task_axis.legend(loc="upper left", fontsize=8)
    summaries = [(name, simulation.summary()) for name, simulation in results]
    names = [name for name, _ in summaries]
    panels = (
        (
            "cost of the run ($)",
            [s.bill.total if s.bill is not None else 0.0 for _, s in summaries],
            "{:.2f}",
        ),
        ("minutes over capacity", [float(s.minutes_over_capacity) for _, s in summaries], "{:.0f}"),
        ("connections moved", [s.connections_moved for _, s in summaries], "{:.0f}"),
    )
    for column, (label, values, spec) in enumerate(panels):
        axis = figure.add_subplot(grid[1, column])
        bars = axis.bar(range(len(values)), values, color=colors)
        axis.bar_label(bars, labels=[spec.format(v) for v in values], fontsize=8)
        axis.set_xticks(range(len(names)), names, rotation=15, fontsize=8)
        axis.set_title(label, fontsize=9)
        axis.set_ylim(0, max(values, default=0) * 1.2 or 1)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)

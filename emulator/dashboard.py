"""The live dashboard of `chat-emulator up`: one screen redrawn in place about once a second, sized to the
terminal (80x24 at least), and the pieces `chat-emulator status` shares with it.

    render_dashboard(status, reading=..., width=80, height=24)  # a rich renderable from one status snapshot
    await run_dashboard(emulator.status, console, clock)          # rich Live on `console` until cancelled

What it shows, from `chat-emulator status --json` (see `emulator.snapshot`):

- the service's desired / running / pending counts and its scalable target's min / max, and, when Application
  Auto Scaling set the desired count, the alarm and policy that did it (the latest scaling activity, as the
  ECS console's "Auto Scaling" tab and `describe-scaling-activities` name them: cause = the alarm);
- the service's deployments (PRIMARY / ACTIVE, rolloutState, desired / running / pending / failed counts, as
  DescribeServices' `deployments[]` answers them): a rolling deployment in progress shows both;
- every alarm's state, one line when the names fit, else names shortened around the part that tells them apart
  (`…-high-cpu`), else one line per alarm;
- each target (task id shortened to its first 8 hex digits, as the ECS console does, longer only where two
  would read alike), its task definition revision, health state, open connections, CPU (the task's
  CPUUtilization over the last second, 100 % = the task definition's vCPU) and messages/s ("n/a" until known);
- the most recent scaling activities.

One clock: every time shown is real (wall-clock) time in the local zone, the zone of the log files. Under
`--time-scale` the scaling activities happen on the emulated clock (one emulated minute = 60/scale real
seconds), so their times are converted to the real instant they happened (`ClockReading`); where no reading
is available (an older snapshot) they are labelled "emulated" instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from emulator.clock import Clock

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 80, 24  # the smallest terminal the dashboard is made for
MAX_TARGET_ROWS = 10
MAX_ACTIVITY_ROWS = 3
MAX_DEPLOYMENT_ROWS = 3
TASK_ID_DIGITS = 8  # the ECS console shows a task id's first 8 hex digits
ELLIPSIS = "…"
HEALTH_STYLES = {"healthy": "green", "initial": "yellow", "unhealthy": "red", "draining": "magenta"}
ALARM_STYLES = {"OK": "green", "ALARM": "bold red", "INSUFFICIENT_DATA": "yellow"}
ROLLOUT_STYLES = {"IN_PROGRESS": "yellow", "COMPLETED": "green", "FAILED": "bold red"}


# -- names: shortened where they must be, never in the part that tells them apart ---------------------------
def short_task_id(task_id: str, others: Sequence[str] = ()) -> str:
    """The first 8 hex digits, as the ECS console shows a task; more where another id starts the same."""
    digits = TASK_ID_DIGITS
    while digits < len(task_id) and any(o != task_id and o[:digits] == task_id[:digits] for o in others):
        digits += 1
    return task_id[:digits]


def abbreviate(name: str, width: int, group: Sequence[str] = ()) -> str:
    """`name` in at most `width` characters, never losing the words that tell it from the other names of
    `group`: whole if it fits; else the words it shares with all of them at its start (a stack's
    `fargate-chat-service-`) and, if still too long, at its end (a target-tracking policy's name) become `…`,
    shared words given back while they fit, the end first (`fargate-…-high-cpu`, `…-high-cpu`); alone, its
    tail."""
    if len(name) <= width:
        return name
    words = name.split("-")
    others = _nearest(words, [g.split("-") for g in group if g != name])
    if others:
        prefix = _shared(words, others, reverse=False)
        suffix = _shared(words[prefix:], others, reverse=True)
        core = words[prefix : len(words) - suffix]
        if core:
            head, tail = words[:prefix], words[len(words) - suffix :]
            for tail_kept in range(len(tail), -1, -1):  # the end of a name reads best: keep it first
                for head_kept in range(len(head), -1, -1):
                    candidate = _joined(head, head_kept, core, tail, tail_kept)
                    if len(candidate) <= width:
                        return candidate
            shortest = _joined(head, 0, core, tail, 0)  # still too long: cut it, the part that differs first
            return shortest[: width - 1] + ELLIPSIS if width > 1 else ELLIPSIS
    return ELLIPSIS + name[len(name) - width + 1 :] if width > 1 else ELLIPSIS


def _nearest(words: list[str], others: list[list[str]]) -> list[list[str]]:
    """The names that share the most leading words with `words` (its own kind: the stack's alarms, or
    target tracking's), or all of them when none shares any."""

    def common(other: list[str]) -> int:
        return next((i for i, (a, b) in enumerate(zip(words, other, strict=False)) if a != b), len(other))

    most = max((common(o) for o in others), default=0)
    return [o for o in others if common(o) == most] if most else others


def _shared(words: list[str], others: list[list[str]], *, reverse: bool) -> int:
    """How many leading (or trailing) words `words` shares with every name in `others`, leaving at least one."""
    count = 0
    while count < len(words) - 1:
        i = -1 - count if reverse else count
        if not all(len(o) > count and o[i] == words[i] for o in others):
            break
        count += 1
    return count


def _joined(head: list[str], head_kept: int, core: list[str], tail: list[str], tail_kept: int) -> str:
    """The first `head_kept` words of `head`, `…` for the rest, `core`, `…`, the last `tail_kept` of `tail`."""
    dropped_head = [ELLIPSIS] if head_kept < len(head) else []
    dropped_tail = [ELLIPSIS] if tail_kept < len(tail) else []
    kept_tail = tail[len(tail) - tail_kept :]
    return "-".join([*head[:head_kept], *dropped_head, *core, *dropped_tail, *kept_tail])


def policy_label(policy: str, cause: str) -> str:
    """The policy without the words it shares with its alarm's name (the stack name): `scale-up`."""
    words, alarm = policy.split("-"), cause.split("-")
    shared = _shared(words, [alarm], reverse=False)
    return "-".join(words[shared:])


def revision(task_definition_arn: str | None) -> str:
    """`family:revision` of a task definition ARN, as the ECS console shows it."""
    return (task_definition_arn or "").rsplit("/", 1)[-1]


# -- one clock ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClockReading:
    """Where the emulator's clock and the wall were at one instant: turns a time on the emulated clock (an
    activity's `clock_seconds`) into the real instant it happened."""

    clock_seconds: float
    wall_time: datetime  # timezone-aware
    time_scale: float = 1.0

    def real_time(self, clock_seconds: float) -> datetime:
        return self.wall_time - timedelta(seconds=(self.clock_seconds - clock_seconds) / self.time_scale)


def reading_of(status: dict[str, Any]) -> ClockReading | None:
    """The reading a snapshot carries (`clock_seconds`, `wall_time`), if it does."""
    seconds, wall = status.get("clock_seconds"), status.get("wall_time")
    if seconds is None or not wall:
        return None
    return ClockReading(float(seconds), datetime.fromisoformat(str(wall)), _scale(status))


def _scale(status: dict[str, Any]) -> float:
    return float(status.get("time_scale") or 1.0)


def activity_time(
    activity: dict[str, Any], reading: ClockReading | None, time_scale: float
) -> tuple[datetime, bool]:
    """When an activity happened, local zone, and whether that is real time (else: the emulated clock's)."""
    if reading is not None and activity.get("clock_seconds") is not None:
        return reading.real_time(float(activity["clock_seconds"])).astimezone(), True
    emulated = datetime.fromisoformat(str(activity["time"])).astimezone()
    return emulated, time_scale == 1


def clock_text(moment: datetime, real: bool) -> str:
    return moment.strftime("%H:%M:%S") + ("" if real else " emulated")


def scaling_cause(status: dict[str, Any], reading: ClockReading | None, width: int = WIDTH) -> str | None:
    """Which alarm and policy set the desired count (the latest scaling activity), in at most `width`:
    `desired 4 <- fargate-chat-service-high-cpu (scale-up) 12:01:05`; None when nothing scaled yet."""
    scaling = status.get("scaling") or {}
    activities = scaling.get("activities") or []
    if not scaling.get("enabled") or not activities:
        return None
    last = activities[-1]
    moment, real = activity_time(last, reading, _scale(status))
    desired = (status.get("service") or {}).get("desired_count")
    policy = policy_label(str(last["policy"]), str(last["cause"]))
    lead, rest = f"desired {last['to']} <- ", f" ({policy}) {clock_text(moment, real)}"
    if desired is not None and desired != last["to"]:  # changed since, by UpdateService or a deploy
        lead, rest = f"autoscaling set {last['to']} <- ", rest + f", since changed to {desired}"
    alarms = [a["name"] for a in status.get("alarms") or []]
    return lead + abbreviate(str(last["cause"]), max(12, width - len(lead) - len(rest)), alarms) + rest


def deployment_lines(status: dict[str, Any]) -> list[Text]:
    """One line per deployment: PRIMARY / ACTIVE, task definition, rolloutState, counts."""
    lines = []
    for d in ((status.get("service") or {}).get("deployments") or [])[:MAX_DEPLOYMENT_ROWS]:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"deployment {d.get('status', '?'):<7} {revision(d.get('task_definition_arn'))} ")
        rollout = str(d.get("rollout_state", ""))
        text.append(f"{rollout:<11}", style=ROLLOUT_STYLES.get(rollout, ""))
        text.append(
            f"  desired {d.get('desired_count')}  running {d.get('running_count')}"
            f"  pending {d.get('pending_count')}"
        )
        if d.get("failed_tasks"):
            text.append(f"  failed {d['failed_tasks']}", style="red")
        lines.append(text)
    return lines


def alarm_lines(alarms: Sequence[dict[str, Any]], width: int, lead: str = "alarms: ") -> list[Text]:
    """Every alarm and its state, whole names packed into as few lines of `width` as they need (wrapped
    between alarms, never inside a name); a name longer than a line (a target-tracking alarm) shortened
    around the words that tell it from the others (`abbreviate`)."""
    if not alarms:
        return [Text(lead + "none")]
    names = [str(a["name"]) for a in alarms]
    indent = " " * len(lead)
    lines: list[Text] = []
    line = Text(lead, no_wrap=True, overflow="ellipsis")
    for alarm, name in zip(alarms, names, strict=True):
        state = str(alarm["state"])
        shown = abbreviate(name, max(8, width - len(lead) - len(state) - 1), names)
        chunk = len(shown) + 1 + len(state)
        if line.cell_len > len(lead) and line.cell_len + 2 + chunk > width:
            lines.append(line)
            line = Text(indent, no_wrap=True, overflow="ellipsis")
        line.append(("  " if line.cell_len > len(lead) else "") + shown + " ")
        line.append(state, style=ALARM_STYLES.get(state, ""))
    return [*lines, line]


# -- the screen -----------------------------------------------------------------------------------------
def render_dashboard(
    status: dict[str, Any],
    *,
    reading: ClockReading | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> RenderableType:
    """One screen of at most `height` rows of `width` columns from a status snapshot. `reading` turns the
    emulated clock's times into real ones (default: the one the snapshot carries, if any)."""
    reading = reading or reading_of(status)
    top: list[RenderableType] = [_header(status, reading, width), _service(status)]
    cause = scaling_cause(status, reading, width)
    if cause:
        top.append(Text(cause, no_wrap=True, overflow="ellipsis", style="cyan"))
    top += deployment_lines(status)
    top += alarm_lines(status.get("alarms") or [], width)
    bottom = _activities(status, reading, width)
    room = height - len(top) - len(bottom.split()) - 2  # the table's heading and rule
    return Group(*top, _targets(status, max(1, room)), bottom)


def _header(status: dict[str, Any], reading: ClockReading | None, width: int) -> Text:
    """The load balancer's URL and the one clock: real time, and the time scale when it is not 1."""
    scale = _scale(status)
    clock = [] if scale == 1 else [f"emulated x{scale:g}"]
    if reading is not None:
        clock.append(f"real time {reading.wall_time.astimezone():%H:%M:%S}")
    elif scale != 1:
        clock.append("times shown are emulated")
    right = " · ".join(clock)
    title, url = "fargate-chat emulator  ", str(status.get("load_balancer_url"))
    if len(title) + len(url) + len(right) + 2 > width:
        title = ""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(title, style="bold")
    text.append(url)
    text.append(" " * max(2, width - len(title) - len(url) - len(right)) + right)
    return text


def _service(status: dict[str, Any]) -> Text:
    service, scaling = status["service"], status.get("scaling") or {}
    target = scaling.get("scalable_target") or {}
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"service {service['service_name']}: ")
    text.append(f"desired {service['desired_count']}", style="bold")
    text.append(f"  running {service['running_count']}  pending {service['pending_count']}")
    if target:
        text.append(f"  (min {target['min_capacity']}, max {target['max_capacity']})")
    if not scaling.get("enabled", False):
        text.append("  autoscaling off", style="yellow")
    return text


def _targets(status: dict[str, Any], rows: int) -> Table:
    """One row per target, at most `rows` (the last of them "+N more" when not all fit)."""
    targets = status.get("targets") or []
    tasks = {t.get("task_id"): t for t in status.get("tasks") or []}
    revisions = [revision((tasks.get(t["id"]) or {}).get("task_definition_arn")) for t in targets]
    columns = [("task", "left"), ("revision", "left"), ("worker", "left"), ("health", "left")]
    columns += [("conns", "right"), ("CPU %", "right"), ("msg/s", "right")]
    if not any(revisions):  # an older snapshot without tasks
        columns.pop(1)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    for column, justify in columns:
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    blank = [""] * (len(columns) - 1)
    ids = [str(t["id"]) for t in targets]
    shown = max(0, min(len(targets), MAX_TARGET_ROWS, rows if len(targets) <= rows else rows - 1))
    for target, rev in list(zip(targets, revisions, strict=True))[:shown]:
        cells: list[str | Text] = [
            short_task_id(str(target["id"]), ids),
            rev,
            str(target["url"]).removeprefix("http://"),
            Text(target["state"], style=HEALTH_STYLES.get(target["state"], "")),
            str(target["open_connections"]),
            _figure(target.get("cpu_percent"), "{:.0f}"),
            _figure(target.get("messages_per_second"), "{:.1f}"),
        ]
        if len(columns) < len(cells):
            cells.pop(1)
        table.add_row(*cells)
    if len(targets) > shown:
        table.add_row(f"+{len(targets) - shown} more", *blank)
    if not targets:
        table.add_row("(no targets)", *blank)
    return table


def _figure(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


def _activities(status: dict[str, Any], reading: ClockReading | None, width: int) -> Text:
    activities = (status.get("scaling") or {}).get("activities") or []
    names = [a["name"] for a in status.get("alarms") or []]
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("recent scaling activities", style="bold")
    if not activities:
        text.append(": none yet")
    for activity in activities[-MAX_ACTIVITY_ROWS:]:
        moment, real = activity_time(activity, reading, _scale(status))
        cause, policy = str(activity["cause"]), str(activity["policy"])
        line = f"\n{clock_text(moment, real)}  {activity['from']} -> {activity['to']}  "
        rest = f" ({policy_label(policy, cause)})"
        text.append(line)
        text.append(abbreviate(cause, max(12, width - len(line) - len(rest) + 1), names))
        text.append(rest, style="dim")
    return text


async def run_dashboard(
    status: Callable[[], Awaitable[dict[str, Any]]],
    console: Console,
    clock: Clock,
    *,
    refresh_seconds: float = 1.0,
) -> None:
    """Redraw the dashboard in place from a fresh snapshot every `refresh_seconds` of clock time until
    cancelled: one rich Live on `console`, never taller than the terminal (a taller frame scrolls its top
    into the scrollback, and the next frame is drawn below it), anything else printed on `console` above it."""
    with Live(console=console, auto_refresh=False, transient=False, vertical_overflow="crop") as live:
        while True:
            try:
                snapshot = await status()
                reading = ClockReading(clock.now(), datetime.now().astimezone(), _scale(snapshot))
                size = console.size
                frame = render_dashboard(snapshot, reading=reading, width=size.width, height=size.height)
                live.update(frame, refresh=True)
            except Exception:
                log.exception("dashboard refresh failed")
            await clock.sleep(refresh_seconds)

"""A chaos run's report: the ledger's tally, the clients' reconnections, the reconnect storm; text and JSON.

Figures beyond the ledger's (see `emulator.chaos.ledger` for sent / acked / delivered / lost / duplicated):

- *disconnected*: clients that lost their connection after the fault began;
- *moved*: clients whose last session was on another task than their first (the task behind the `AWSALB` cookie
  the load balancer set; n/a without stickiness);
- *sessions recovered / not recovered*: reconnections whose session was restored (same pid) or not;
- *back after*: from the fault's start until the last disconnected client had a session again (None when some
  client never got one back);
- *reconnect storm peak*: the most client connections the load balancer accepted within one second, after the
  fault began (its counter sampled every 0.1 s), and how many it accepted in all after the fault;
- *acks paused*: the longest stretch without any ack, from the fault's start until the senders stopped.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from emulator.chaos.ledger import Tally

if TYPE_CHECKING:
    from emulator.chaos.driver import ChaosSettings
    from emulator.chaos.scenarios import Scenario


@dataclass
class ClientRecord:
    """What the driver saw of one client: its sessions (time, recovered, AWSALB value) and lost connections."""

    name: str
    kind: str = "python"  # or "official" (socket.io-client in Node)
    sessions: list[tuple[float, bool, str | None]] = field(default_factory=list)
    losses: list[tuple[float, str]] = field(default_factory=list)
    recovered: int = 0
    not_recovered: int = 0
    last_error: str = ""
    connected_at_end: bool = True

    def back_at(self, since: float) -> float | None:
        """When it had a session again after its last loss since `since`; `since` if it lost nothing, None if
        it never came back."""
        losses = [at for at, _ in self.losses if at >= since]
        if not losses:
            return since
        later = [at for at, _, _ in self.sessions if at >= losses[-1]]
        return later[0] if later else None


def peak_per_second(samples: Sequence[tuple[float, int]], since: float) -> tuple[int, int]:
    """(the largest increase of a counter within any 1 s window at or after `since`, its increase in all)."""
    points = [(t, n) for t, n in samples if t >= since]
    if len(points) < 2:
        return 0, 0
    peak, j = 0, 0
    for i, (t_i, n_i) in enumerate(points):
        j = max(j, i)
        while j + 1 < len(points) and points[j + 1][0] - t_i <= 1.0 + 1e-9:
            j += 1
        peak = max(peak, points[j][1] - n_i)
    return peak, points[-1][1] - points[0][1]


def longest_gap(times: Sequence[float], start: float, end: float) -> float:
    """The longest stretch in [start, end] without any of `times`."""
    inside = sorted(t for t in times if start <= t <= end)
    edges = [start, *inside, end]
    return max((b - a for a, b in itertools.pairwise(edges)), default=0.0)


@dataclass(frozen=True)
class ChaosReport:
    scenario: str
    summary: str
    settings: dict[str, Any]
    deployment: dict[str, Any]
    timeline: list[tuple[float, str]]
    tally: Tally
    clients: int
    official_clients: int
    disconnected: int
    moved: int | None
    moved_known: int  # clients whose first and last task are known (the official client's cookie may not be)
    recovered: int
    not_recovered: int
    never_back: int
    back_after_s: float | None
    storm_peak_per_s: int
    storm_connections: int
    acks_paused_s: float
    duration_s: float  # from the clients' start to the end of the settle period
    tasks_before: dict[str, int]
    tasks_after: dict[str, int]
    never_back_samples: list[str]

    @property
    def ok(self) -> bool:
        """True when no acked message was lost (the exit status says the same: 0, else 1)."""
        return self.tally.lost == 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tally"] = self.tally.as_dict()
        out["timeline"] = [{"at_s": round(at, 3), "event": text} for at, text in self.timeline]
        out["ok"] = self.ok
        return out


def build_report(
    *,
    scenario: Scenario,
    settings: ChaosSettings,
    seconds: float,
    tally: Tally,
    acked_at: Sequence[float],
    records: Sequence[ClientRecord],
    task_of: Callable[[str | None], str | None],
    samples: Sequence[tuple[float, int]],
    timeline: Sequence[tuple[float, str]],
    origin: float,
    fault_at: float,
    senders_stopped: float,
    end: float,
    deployment: dict[str, Any],
) -> ChaosReport:
    backs = [r.back_at(fault_at) for r in records]
    disconnected = [r for r in records if any(at >= fault_at for at, _ in r.losses)]
    never = [r for r in records if r.back_at(fault_at) is None or not r.connected_at_end]
    first = {r.name: task_of(r.sessions[0][2]) if r.sessions else None for r in records}
    last = {r.name: task_of(r.sessions[-1][2]) if r.sessions else None for r in records}
    known = [r.name for r in records if first[r.name] and last[r.name]]
    moved = sum(first[n] != last[n] for n in known) if known else None
    peak, storm = peak_per_second(samples, fault_at)
    settings_out = asdict(settings)
    settings_out["seconds"] = seconds
    return ChaosReport(
        scenario=scenario.name,
        summary=scenario.summary,
        settings=settings_out,
        deployment=deployment,
        timeline=list(timeline),
        tally=tally,
        clients=len(records),
        official_clients=sum(r.kind == "official" for r in records),
        disconnected=len(disconnected),
        moved=moved,
        moved_known=len(known),
        recovered=sum(r.recovered for r in records),
        not_recovered=sum(r.not_recovered for r in records),
        never_back=len(never),
        back_after_s=None if never else round(max(b for b in backs if b is not None) - fault_at, 2),
        storm_peak_per_s=peak,
        storm_connections=storm,
        acks_paused_s=round(longest_gap(acked_at, fault_at, senders_stopped), 2),
        duration_s=round(end - origin, 2),
        tasks_before=_per_task(first),
        tasks_after=_per_task(last),
        never_back_samples=[f"{r.name}: {r.last_error or 'no session'}" for r in never[:5]],
    )


def _per_task(homes: dict[str, str | None]) -> dict[str, int]:
    counts = Counter((task or "unknown")[:8] for task in homes.values())
    return dict(sorted(counts.items()))


def to_json(report: ChaosReport) -> str:
    return json.dumps(report.as_dict(), indent=2)


def render(report: ChaosReport, console: Console) -> None:
    """The report as plain text lines (also what the README shows)."""
    t, s, d = report.tally, report.settings, report.deployment
    lines = [
        f"chaos {report.scenario}: {report.summary}",
        f"deployment  {d.get('tasks', '?')} tasks ({d.get('isolation', '?')} isolation) behind "
        f"{d.get('load_balancer_url', '?')}; Redis: {d.get('redis', '?')}; time scale {d.get('time_scale', 1):g}",
        f"clients     {report.clients} through the load balancer ({s['senders']} senders at {s['rate']:g} msg/s "
        f"each, one message at a time; every client receives"
        + (f"; {report.official_clients} official socket.io-client" if report.official_clients else "")
        + ")",
        "timeline",
        *(f"  {at:7.2f} s  {text}" for at, text in report.timeline),
        f"messages    sent {t.sent}, acked {t.acked} ({t.duplicate_acks} as duplicates), refused {t.refused}, "
        f"unacked {t.unacked}, delivered although not acked {t.delivered_unacked}; "
        f"{t.resends} resends, {t.retry_refusals} retryable refusals",
        f"delivery    delivered {t.delivered}, lost {t.lost}, duplicated {t.duplicated} ({t.extra_copies} extra "
        f"copies), out of order {t.out_of_order}; {t.received} deliveries for {t.owed} owed, "
        f"{t.not_owed} not owed (around sessions not recovered)",
        f"clients     disconnected {report.disconnected}, moved to another task {_moved(report)}, "
        f"sessions recovered {report.recovered}, "
        f"not recovered {report.not_recovered}, never back {report.never_back}",
        f"tasks       clients per task before {_tasks(report.tasks_before)}, after {_tasks(report.tasks_after)}",
        f"recovery    every client back after "
        f"{'never' if report.back_after_s is None else f'{report.back_after_s:g} s'}; reconnect storm peak "
        f"{report.storm_peak_per_s} connections/s at the load balancer ({report.storm_connections} after the "
        f"fault); acks paused for {report.acks_paused_s:g} s at most; {report.duration_s:g} s in all",
    ]
    for sample in t.lost_samples:
        lines.append(
            f"lost        {sample.message_id} (acked at {sample.acked_at:.2f} s) never reached "
            f"{', '.join(sample.missing_at)}"
        )
    for duplicate in t.duplicate_samples:
        lines.append(f"duplicated  {duplicate}")
    for refusal in t.refusal_samples:
        lines.append(f"refused     {refusal}")
    for never in report.never_back_samples:
        lines.append(f"never back  {never}")
    for line in lines:
        console.print(escape(line), highlight=False, soft_wrap=True)
    verdict = (
        "[green]OK[/]: no acked message was lost"
        if report.ok
        else f"[red]FAILED[/]: {t.lost} acked messages lost"
    )
    console.print(f"verdict     {verdict}", highlight=False)


def _moved(report: ChaosReport) -> str:
    if report.moved is None:
        return "n/a"
    if report.moved_known < report.clients:
        return f"{report.moved} (of the {report.moved_known} whose task is known)"
    return str(report.moved)


def _tasks(counts: dict[str, int]) -> str:
    return "{" + ", ".join(f"{task}: {n}" for task, n in counts.items()) + "}"

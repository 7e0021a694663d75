"""`chat-emulator load`: a load generator that speaks the chat's wire protocol itself, as any client would.

Map:

- `protocol` — Engine.IO v4 / Socket.IO v5 text packets (events, acks, CONNECT with auth); the message text
  `lg:<run>:<sender>:<seq>:<sent_us>:` that carries each message's send time and unique id; decoding a broadcast
  without `json.loads`.
- `client` — one client over aiohttp (WebSocket, or long-polling then the upgrade with its own cookies);
  `Tally` counts deliveries, latency, duplicates and order for all clients of one process.
- `runner` — `LoadConfig`; one process's clients: connect and log in, send on schedule, drain.
- `procs` — `run_load()`: `procs` OS processes started together, their CPU sampled with psutil, results merged.
- `stats` — `ProcessResult`, `merge`, percentiles, `Report` (the `--json` object).
- `report` — the rich progress bar and final table.
- `reconnecting` — `ReconnectingClient`, one user that rides out faults as the official client does: acks, the
  reconnection backoff, connection-state recovery (`{pid, offset}`), the heartbeat timeout (`chat-emulator chaos`).

It imports neither `chat` nor the emulator's AWS, ALB or cluster rooms: it only needs a URL.

Usage:

    report = run_load(LoadConfig(urls=("http://127.0.0.1:3000",), clients=200, senders=10, rate=10, duration=15))
    print(report.loss_pct, report.as_dict()["latency_ms"]["p99"])
"""

from __future__ import annotations

from emulator.loadgen.procs import Progress, run_load
from emulator.loadgen.runner import LoadConfig
from emulator.loadgen.stats import CpuUse, ProcessResult, Report, merge, percentile, summary

__all__ = [
    "CpuUse",
    "LoadConfig",
    "ProcessResult",
    "Progress",
    "Report",
    "merge",
    "percentile",
    "run_load",
    "summary",
]

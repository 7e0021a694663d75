"""Tables from the harness's JSON lines (`../shared/bench/bench.sh` output, one run per line).

Per run: server, pass, worker CPU per delivery, deliveries/s, loss, p50/p99, the load generator's send
lag, and how busy the rest of the machine was (`other_procs_cpu_pct`: CPU used by processes that are not
the workers or the load generator, in % of one core: other people's tests on a shared machine). Then the
medians per server and the ratios to Node, as `compare.sh` prints them.

    .venv/bin/python benchmarks/summarize.py ROWS.jsonl [--group KEY]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from typing import Any


def med(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median_low(present) if present else None


def dig(row: dict[str, Any], *path: str) -> Any:
    value: Any = row
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def ratio(medians: dict[str, tuple[float | None, float | None]], i: int) -> str:
    ours, node = medians.get("project", (None, None))[i], medians.get("node", (None, None))[i]
    return f"{ours / node:.2f}x" if ours is not None and node else "n/a"


def connect_only(rows: list[dict[str, Any]]) -> None:
    print(
        "| server | label | logged in | connect rate /s | login p50 ms | login p99 ms | KB per connection | other CPU % |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        print(
            f"| {r['server']} | {r.get('label', i)} | {dig(r, 'connect', 'ok')} | {dig(r, 'connect', 'rate_per_s')} "
            f"| {dig(r, 'connect', 'login_ms', 'p50')} | {dig(r, 'connect', 'login_ms', 'p99')} "
            f"| {r.get('kb_per_conn')} | {dig(r, 'connect_phase_cpu', 'other_procs_cpu_pct')} |"
        )
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["server"]].append(r)
    m = {
        k: (med([dig(r, "connect", "login_ms", "p99") for r in rs]), med([r.get("kb_per_conn") for r in rs]))
        for k, rs in by.items()
    }
    for k, (p99, kb) in m.items():
        print(f"median {k}: login p99 {p99} ms, {kb} KB per connection")
    print(
        f"ratio project/node: login p99 {ratio(m, 0)} (target <= 2), "
        f"memory per connection {ratio(m, 1)} (target <= 1.5)"
    )


def load(rows: list[dict[str, Any]]) -> None:
    print(
        "| server | label | pass | µs CPU / delivery | deliveries/s | loss % | p50 ms | p99 ms | login p99 ms | send lag p99 ms | other CPU % |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        print(
            f"| {r['server']} | {r.get('label', i)} | {r.get('pass')} | {r.get('us_per_delivery')} | {r.get('throughput_dps')} "
            f"| {r.get('loss_pct')} | {dig(r, 'latency_ms', 'p50')} | {dig(r, 'latency_ms', 'p99')} "
            f"| {dig(r, 'connect', 'login_ms', 'p99')} | {dig(r, 'send_lag_ms', 'p99')} | {dig(r, 'cpu', 'other_procs_cpu_pct')} |"
        )
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["server"]].append(r)
    m = {}
    for k, rs in by.items():
        us, p99 = med([r.get("us_per_delivery") for r in rs]), med([dig(r, "latency_ms", "p99") for r in rs])
        m[k] = (us, p99)
        print(
            f"median {k}: {us} µs CPU per delivery, {med([r.get('throughput_dps') for r in rs])} deliveries/s, p99 {p99} ms, passed {sum(bool(r.get('pass')) for r in rs)}/{len(rs)}"
        )
    print(f"ratio project/node: CPU per delivery {ratio(m, 0)}, p99 {ratio(m, 1)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows")
    args = parser.parse_args()
    with open(args.rows) as f:
        rows = [json.loads(line) for line in f if line.strip().startswith("{")]
    if not rows:
        print("no rows", file=sys.stderr)
        return 1
    (connect_only if "kb_per_conn" in rows[0] or "connect_phase_cpu" in rows[0] else load)(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

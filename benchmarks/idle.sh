#!/usr/bin/env bash
# Idle connections: 2000 clients connect and log in to one worker, then sit idle; login time percentiles,
# connect rate and the worker's memory per connection, Node vs ours, alternating.
#   benchmarks/idle.sh [REPS] [CLIENTS]      default: 2 reps, 2000 clients
set -u
source "$(dirname "$0")/_common.sh"
REPS="${1:-2}"; CLIENTS="${2:-2000}"
machine
for r in $(seq 1 "$REPS"); do
  for kind in node project; do
    "$BENCH_DIR/bench.sh" "$kind" 1 --clients "$CLIENTS" --connect-only --label "idle rep=$r" | tail -n 1 |
      "$PYTHON" -c 'import json,sys; r=json.load(sys.stdin); c=r.get("connect") or {}; l=c.get("login_ms") or {}
print(f"rep '"$r"' {r[\"server\"]:8} ok={c.get(\"ok\")} failed={c.get(\"failed\")} rate={c.get(\"rate_per_s\")}/s login p50={l.get(\"p50\")} p99={l.get(\"p99\")} ms kb/conn={r.get(\"kb_per_conn\")} presence_ok={r.get(\"presence_ok\")}")'
  done
done
machine

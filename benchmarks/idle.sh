#!/usr/bin/env bash
# Idle connections: CLIENTS clients connect and log in to one worker, then sit idle; login time
# percentiles, connect rate and the worker's memory per connection, Node vs ours, alternating.
# Raw rows: $OUT/idle-c$CLIENTS.jsonl (default benchmarks/results/).
#   benchmarks/idle.sh [REPS] [CLIENTS]      default: 2 reps, 2000 clients
set -u
source "$(dirname "$0")/_common.sh"
REPS="${1:-2}"; CLIENTS="${2:-2000}"
OUT="${OUT:-$ROOT/benchmarks/results}"; mkdir -p "$OUT"
rows="$OUT/idle-c$CLIENTS.jsonl"; : >"$rows"
machine
for r in $(seq 1 "$REPS"); do
  for kind in node project; do
    "$BENCH_DIR/bench.sh" "$kind" 1 --clients "$CLIENTS" --connect-only --label "idle rep=$r" | tail -n 1 >>"$rows"
  done
done
"$PYTHON" "$ROOT/benchmarks/summarize.py" "$rows"
machine

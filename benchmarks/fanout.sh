#!/usr/bin/env bash
# Fan-out: our worker vs Node socket.io 4 on the same load, alternating (as compare.sh does), for 1, 2 and
# 4 workers, 200 clients (10 senders x 10 msg/s) and 2000 clients (10 senders x 1 msg/s). Raw rows go to
# $OUT (default benchmarks/results/), one JSON line per run; summarize.py prints the tables.
#   benchmarks/fanout.sh [REPS] [W...]        default: 2 reps, W = 1 2 4
set -u
source "$(dirname "$0")/_common.sh"
REPS="${1:-2}"; [ $# -gt 0 ] && shift
WS=("$@"); [ ${#WS[@]} -eq 0 ] && WS=(1 2 4)
OUT="${OUT:-$ROOT/benchmarks/results}"; mkdir -p "$OUT"
machine
for w in "${WS[@]}"; do
  for clients in 200 2000; do
    rate=$([ "$clients" = 200 ] && echo 10 || echo 1)
    rows="$OUT/fanout-w$w-c$clients.jsonl"; : >"$rows"
    echo; echo "## W=$w, $clients clients, 10 senders x $rate msg/s, 15 s ($rows)"
    for r in $(seq 1 "$REPS"); do
      for kind in node project; do
        "$BENCH_DIR/bench.sh" "$kind" "$w" --clients "$clients" --senders 10 --rate "$rate" --duration 15 --warmup 3 \
          --label "fanout rep=$r" | tail -n 1 >>"$rows"
      done
    done
    "$PYTHON" "$ROOT/benchmarks/summarize.py" "$rows"
  done
done
machine

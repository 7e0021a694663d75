#!/usr/bin/env bash
# Highest sustained rate: step the total message rate (10 senders, 200 clients, W workers) for Node and
# for our worker, alternating at every step; a step passes with p99 < 250 ms, < 1 % loss, >= 95 % of the
# rate actually sent and no client dropped (the harness's `pass`). Raw rows: $OUT/sustained-w$W.jsonl.
#   benchmarks/sustained.sh [REPS] [TOTAL_RATES...]   default: 2 reps of 400 600 800 1000 msg/s; env W=1
set -u
source "$(dirname "$0")/_common.sh"
REPS="${1:-2}"; [ $# -gt 0 ] && shift
RATES=("$@"); [ ${#RATES[@]} -eq 0 ] && RATES=(400 600 800 1000)
W="${W:-1}"
OUT="${OUT:-$ROOT/benchmarks/results}"; mkdir -p "$OUT"
RES="$OUT/sustained-w$W.jsonl"; : >"$RES"
machine
for r in $(seq 1 "$REPS"); do
  for total in "${RATES[@]}"; do
    for kind in node project; do
      "$BENCH_DIR/bench.sh" "$kind" "$W" --clients 200 --senders 10 --rate $((total / 10)) --duration 10 --warmup 2 \
        --label "sustained rep=$r total=$total" | tail -n 1 >>"$RES"
    done
  done
done
"$PYTHON" "$ROOT/benchmarks/summarize.py" "$RES"
"$PYTHON" - "$RES" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for kind in ("node", "project"):
    best = []
    for rep in sorted({r["label"].split()[1] for r in rows}):
        ok = [r["total_rate"] for r in rows if r["server"] == kind and r["label"].split()[1] == rep and r.get("pass")]
        best.append(max(ok, default=0))
    print(f"highest passing rate, {kind}: per rep {best}, median {statistics.median_low(best)} msg/s")
PY
machine

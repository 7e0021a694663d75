#!/usr/bin/env bash
# Fan-out: our worker vs Node socket.io 4 on the same load, side by side (compare.sh), for 1, 2 and 4
# workers, 200 clients (10 senders x 10 msg/s) and 2000 clients (10 senders x 1 msg/s).
#   benchmarks/fanout.sh [REPS] [W...]        default: 2 reps, W = 1 2 4
set -u
source "$(dirname "$0")/_common.sh"
REPS="${1:-2}"; [ $# -gt 0 ] && shift
WS=("$@"); [ ${#WS[@]} -eq 0 ] && WS=(1 2 4)
machine
for w in "${WS[@]}"; do
  echo; echo "## W=$w, 200 clients, 10 senders x 10 msg/s, 15 s"
  W=$w "$BENCH_DIR/compare.sh" "$REPS" --clients 200 --senders 10 --rate 10 --duration 15 --warmup 3
  echo; echo "## W=$w, 2000 clients, 10 senders x 1 msg/s, 15 s"
  W=$w "$BENCH_DIR/compare.sh" "$REPS" --clients 2000 --senders 10 --rate 1 --duration 15 --warmup 3
done
machine

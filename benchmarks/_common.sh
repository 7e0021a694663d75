# Sourced by the benchmark scripts: where things are, and the settings every run shares.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$ROOT/../shared/bench}"          # the side-by-side harness (see its README)
export PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
# the worker's per-connection message limit (default 10 msg/s, burst 20) must not be what is measured
export MESSAGE_RATE="${MESSAGE_RATE:-10000}" MESSAGE_BURST="${MESSAGE_BURST:-20000}"
cd "$ROOT" || exit 1
machine() {
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $("$PYTHON" --version 2>&1)"
  echo "# load: $(uptime | sed 's/.*load average/load average/')"
}

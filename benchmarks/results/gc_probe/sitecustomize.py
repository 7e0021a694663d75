"""A garbage-collector probe for a benchmarked worker: every collection over 5 ms, one line each.

Python imports `sitecustomize` at start-up from the path, so putting this folder on the worker's PYTHONPATH installs
it without touching the chat's code:

    .venv/bin/python benchmarks/compare.py fanout-2000 --servers project --reps 1 \\
        --project-env PYTHONPATH=$PWD/benchmarks/results/gc_probe

Lines go to /tmp/gc-probe-<pid>.log (GC_PROBE_DIR to change the folder): `<unix time> gen<N> <ms> ms collected=<n>`.
"""

import gc
import os
import time

_started: dict[str, float] = {}
_log = open(  # noqa: SIM115 - open for the life of the process
    os.path.join(os.environ.get("GC_PROBE_DIR", "/tmp"), f"gc-probe-{os.getpid()}.log"), "a", buffering=1
)


def _timed(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _started["at"] = time.perf_counter()
        return
    ms = (time.perf_counter() - _started.get("at", time.perf_counter())) * 1000
    if ms >= 5:
        _log.write(f"{time.time():.3f} gen{info['generation']} {ms:.1f} ms collected={info['collected']}\n")


gc.callbacks.append(_timed)

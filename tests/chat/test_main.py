"""`python -m chat`: `--help` / `--version` print and exit without starting a server, unknown arguments are refused,
and a started worker freezes its start-up heap out of garbage collection."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from chat.__main__ import main
from support.workers import metric, start_worker


def test_help_prints_the_configuration_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "REDIS_ENDPOINT" in out and "PORT" in out


def test_version_prints_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("python -m chat 0.")


def test_an_unknown_argument_is_refused_before_anything_listens() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chat", "--worker", "3"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and "unrecognized arguments" in done.stderr
    assert "listening" not in done.stderr


def test_a_worker_freezes_its_start_up_heap_out_of_garbage_collection(key_prefix: str) -> None:
    # CPython's full collections stop the event loop; what `python -m chat` holds at start-up is left out of them
    worker = start_worker(None, key_prefix)
    try:
        frozen, deadline = 0.0, time.monotonic() + 15
        while frozen == 0 and time.monotonic() < deadline:
            text = httpx.get(f"{worker.url}/metrics", timeout=5).text
            frozen = metric(text, "chat_gc_frozen_objects")
            time.sleep(0.1)
        assert frozen > 10_000  # the modules, classes and the app: tens of thousands of objects
        assert metric(text, "chat_gc_full_collections_total") >= 1  # the one made before freezing
    finally:
        worker.stop()

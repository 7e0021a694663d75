"""`chat-emulator calibrate` as a user runs it: a --quick real run (one `python -m chat` on the machine's Redis,
the load generator) writes a cost model close to the committed one; bad options exit 2 with one line."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from pathlib import Path

import pytest
from conftest import free_port

from emulator.cli import main
from emulator.sim.costmodel import DEFAULT_CALIBRATION, CostModel

# A --quick run (200 connections, 1.5 s windows) beside the rest of the suite on pytest-xdist: CPU figures move by a
# few times (one CI run measured 0.28x the committed CPU per idle connection); memory and bytes hardly at all. With
# one repeat, one disturbed window could take a figure past that (a CI run measured 0.06x the committed CPU per
# delivery): the test takes the median of three fresh workers, as a real calibration does.
CPU_FACTOR = 6.0
FACTOR = 1.5
CPU_FIGURES = {"cpu_seconds_per_delivery", "cpu_seconds_per_message", "vcpu_per_connection"}
NUMBERS = [f.name for f in fields(CostModel) if f.name != "measured"]


@pytest.mark.redis
@pytest.mark.slow
def test_a_quick_run_writes_a_cost_model_close_to_the_committed_one(
    shared_redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calibration.json"
    assert main(["calibrate", "--quick", "--repeats", "3", "--out", str(out)]) == 0
    measured = CostModel.read(out)
    committed = CostModel.read(DEFAULT_CALIBRATION)
    for name in NUMBERS:
        value, reference = getattr(measured, name), getattr(committed, name)
        assert value > 0, name
        factor = CPU_FACTOR if name in CPU_FIGURES else FACTOR
        assert reference / factor <= value <= reference * factor, (name, value, reference)
    assert measured.measured.command.startswith("chat-emulator calibrate --quick --connections 200")
    assert datetime.fromisoformat(measured.measured.date).tzinfo is not None
    assert (
        "cores" in measured.measured.machine and "idle logged-in WebSocket clients" in measured.measured.load
    )
    assert "bytes_per_delivery" in capsys.readouterr().out  # the table


def test_the_committed_default_says_where_when_and_how_it_was_measured() -> None:
    committed = CostModel.read(DEFAULT_CALIBRATION)
    assert committed.measured.command.startswith("chat-emulator calibrate --connections")
    assert "--quick" not in committed.measured.command
    assert "cores" in committed.measured.machine and "min..max" in committed.measured.notes
    datetime.fromisoformat(committed.measured.date)


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--connections", "0"], "--connections"),
        (["--repeats", "0"], "--repeats"),
        (["--duration", "-1"], "--duration"),
        (["--redis", "redis://127.0.0.1:6379"], "HOST[:PORT] or embedded"),
        (["--out", "/no/such/folder/c.json"], "no folder"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("calibrate: ") and complaint in err


def test_no_redis_there_exits_1_before_starting_a_worker(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--quick", "--redis", f"127.0.0.1:{free_port()}", "--out", "-"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Redis at 127.0.0.1:" in err and "--redis embedded" in err

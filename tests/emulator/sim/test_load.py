"""Load files follow the `minute,demand_vcpu` contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.sim.load import LoadFileError, read_load, write_load


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    write_load(path, [0.5, 1.25, 3.0])
    assert path.read_text().splitlines()[0] == "minute,demand_vcpu"
    assert read_load(path) == [0.5, 1.25, 3.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("minutes,cpu\n0,1\n", "header"),
        ("minute,demand_vcpu\n0,1\n2,1\n", "expected minute 1"),
        ("minute,demand_vcpu\n0,lots\n", "a number"),
        ("minute,demand_vcpu\n0,-1\n", ">= 0"),
        ("minute,demand_vcpu\n", "no minutes"),
    ],
)
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "load.csv"
    path.write_text(text)
    with pytest.raises(LoadFileError, match=message):
        read_load(path)

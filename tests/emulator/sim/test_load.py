"""Load files follow the `minute,demand_vcpu` or the `minute,connections,messages_per_s` contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.sim.load import Load, LoadFileError, read_load, write_load


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    write_load(path, [0.5, 1.25, 3.0])
    assert path.read_text().splitlines()[0] == "minute,demand_vcpu"
    assert read_load(path) == Load.of_vcpu([0.5, 1.25, 3.0])


def test_a_load_in_users_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    load = Load.of_users([0, 1500, 40000], [0, 12.5, 300])
    write_load(path, load)
    assert path.read_text().splitlines() == [
        "minute,connections,messages_per_s",
        "0,0,0",
        "1,1500,12.5",
        "2,40000,300",
    ]
    assert read_load(path) == load
    assert load.in_users and load.minutes == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("minutes,cpu\n0,1\n", "header"),
        ("minute,demand_vcpu\n0,1\n2,1\n", "expected minute 1"),
        ("minute,demand_vcpu\n0,lots\n", "a number"),
        ("minute,demand_vcpu\n0,-1\n", ">= 0"),
        ("minute,demand_vcpu\n", "no minutes"),
        ("minute,demand_vcpu\n0,nan\n", ">= 0"),
        ("minute,connections,messages_per_s\n0,10\n", "two numbers"),
        ("minute,connections,messages_per_s\n0,10,-2\n", "messages_per_s must be"),
        ("minute,connections\n0,10\n", "minute,connections,messages_per_s"),
        ("minute,demand_vcpu\n0,1,7\n", "more columns"),
        ("minute,connections,messages_per_s\n0,0,3\n", "no connection to send them"),
    ],
)
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "load.csv"
    path.write_text(text)
    with pytest.raises(LoadFileError, match=message):
        read_load(path)


def test_a_spreadsheet_s_byte_order_mark_is_read_past(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("minute,connections,messages_per_s\r\n0,10,1\r\n".encode("utf-8-sig"))
    assert read_load(path) == Load.of_users([10], [1])

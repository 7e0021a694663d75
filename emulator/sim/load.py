"""Load files: `minute,demand_vcpu`, one row per whole minute from 0."""

from __future__ import annotations

import csv
from pathlib import Path

LOAD_HEADER = ("minute", "demand_vcpu")


class LoadFileError(ValueError):
    """The load file does not follow the `minute,demand_vcpu` contract."""


def read_load(path: Path) -> list[float]:
    """The demand in vCPUs for minute 0, 1, 2, ... (the total CPU the service would use, unlimited)."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or tuple(cell.strip() for cell in rows[0]) != LOAD_HEADER:
        raise LoadFileError(f"{path}: the header must be {','.join(LOAD_HEADER)}")
    demand: list[float] = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            minute, value = int(row[0]), float(row[1])
        except (IndexError, ValueError) as exc:
            raise LoadFileError(f"{path}:{number}: expected an integer minute and a number: {row}") from exc
        if minute != len(demand):
            raise LoadFileError(f"{path}:{number}: expected minute {len(demand)}, got {minute}")
        if value < 0:
            raise LoadFileError(f"{path}:{number}: demand_vcpu must be >= 0")
        demand.append(value)
    if not demand:
        raise LoadFileError(f"{path}: no minutes")
    return demand


def write_load(path: Path, demand: list[float]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LOAD_HEADER)
        writer.writerows((minute, f"{value:g}") for minute, value in enumerate(demand))

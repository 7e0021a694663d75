"""Load files, one row per whole minute from 0, in one of two shapes:

- `minute,demand_vcpu`: the total CPU the service would use, unlimited (the simulator's first shape);
- `minute,connections,messages_per_s`: the chat's own terms — open Socket.IO sessions, and the messages per second
  they send in all; `emulator.sim.costmodel` turns them into CPU, memory and bytes per task.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

VCPU_HEADER = ("minute", "demand_vcpu")
USERS_HEADER = ("minute", "connections", "messages_per_s")


class LoadFileError(ValueError):
    """The load file follows neither load contract."""


@dataclass(frozen=True)
class Load:
    """Minute m's load: `demand_vcpu[m]`, or `connections[m]` sending `messages_per_s[m]` (then `demand_vcpu` is
    empty: only a cost model can say it)."""

    demand_vcpu: tuple[float, ...] = ()
    connections: tuple[float, ...] = ()
    messages_per_s: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.demand_vcpu) == bool(self.connections):
            raise ValueError("a load is either demand_vcpu or connections + messages_per_s")
        if len(self.connections) != len(self.messages_per_s):
            raise ValueError("connections and messages_per_s must have one value per minute each")

    @staticmethod
    def of_vcpu(demand: Sequence[float]) -> Load:
        return Load(demand_vcpu=tuple(float(d) for d in demand))

    @staticmethod
    def of_users(connections: Sequence[float], messages_per_s: Sequence[float]) -> Load:
        return Load(
            connections=tuple(float(c) for c in connections),
            messages_per_s=tuple(float(m) for m in messages_per_s),
        )

    @property
    def in_users(self) -> bool:
        return bool(self.connections)

    @property
    def minutes(self) -> int:
        return len(self.connections) if self.in_users else len(self.demand_vcpu)

    @property
    def header(self) -> tuple[str, ...]:
        return USERS_HEADER if self.in_users else VCPU_HEADER


def as_load(load: Load | Sequence[float]) -> Load:
    """A `Load`, or a plain list of vCPU per minute."""
    return load if isinstance(load, Load) else Load.of_vcpu(load)


def read_load(path: Path) -> Load:
    with path.open(newline="", encoding="utf-8-sig") as handle:  # a spreadsheet's export may start with a BOM
        rows = list(csv.reader(handle))
    header = tuple(cell.strip() for cell in rows[0]) if rows else ()
    if header not in (VCPU_HEADER, USERS_HEADER):
        raise LoadFileError(f"{path}: the header must be {','.join(VCPU_HEADER)} or {','.join(USERS_HEADER)}")
    columns: list[list[float]] = [[] for _ in header[1:]]
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len([cell for cell in row if cell.strip()]) > len(header):
            raise LoadFileError(f"{path}:{number}: more columns than the header's {len(header)}: {row}")
        try:
            minute, values = int(row[0]), [float(row[i]) for i in range(1, len(header))]
        except (IndexError, ValueError) as exc:
            expected = (
                "an integer minute and a number" if len(header) == 2 else "an integer minute and two numbers"
            )
            raise LoadFileError(f"{path}:{number}: expected {expected}: {row}") from exc
        if minute != len(columns[0]):
            raise LoadFileError(f"{path}:{number}: expected minute {len(columns[0])}, got {minute}")
        for name, value in zip(header[1:], values, strict=True):
            if not value >= 0 or value == float("inf"):
                raise LoadFileError(f"{path}:{number}: {name} must be a finite number >= 0")
        if header == USERS_HEADER and values[0] == 0 and values[1] > 0:
            raise LoadFileError(
                f"{path}:{number}: messages_per_s {values[1]:g} with no connection to send them"
            )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    if not columns[0]:
        raise LoadFileError(f"{path}: no minutes")
    if header == VCPU_HEADER:
        return Load.of_vcpu(columns[0])
    return Load.of_users(columns[0], columns[1])


def write_load(path: Path, load: Load | Sequence[float]) -> None:
    load = as_load(load)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(load.header)
        if load.in_users:
            writer.writerows(
                (m, f"{c:g}", f"{r:g}")
                for m, (c, r) in enumerate(zip(load.connections, load.messages_per_s, strict=True))
            )
        else:
            writer.writerows((m, f"{value:g}") for m, value in enumerate(load.demand_vcpu))

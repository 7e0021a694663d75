"""Golden timelines: each example load through the seed's templates, compared with the committed CSV.

After an intended change of behaviour, regenerate with `UPDATE_GOLDEN=1 python -m pytest tests/emulator/sim`
and review the diff of tests/emulator/sim/golden/ like code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emulator.model import ServiceDescription
from emulator.sim import read_load, simulate, write_timeline

from .conftest import EXAMPLES, GOLDEN

SCENARIOS = ["steady", "ramp", "spike", "daily"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_golden_timeline(deployed_seed: ServiceDescription, scenario: str, tmp_path: Path) -> None:
    fresh = tmp_path / f"{scenario}.csv"
    write_timeline(fresh, simulate(deployed_seed, read_load(EXAMPLES / f"{scenario}.csv")))
    golden = GOLDEN / f"{scenario}.csv"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(fresh.read_text())
    assert fresh.read_text().splitlines() == golden.read_text().splitlines()


def test_scenarios_show_what_users_expect(deployed_seed: ServiceDescription) -> None:
    """Independent of the goldens: steady does nothing, the others scale out and come back to MinCapacity."""
    assert deployed_seed.scalable_target is not None
    low, high = deployed_seed.scalable_target.min_capacity, deployed_seed.scalable_target.max_capacity
    steady = simulate(deployed_seed, read_load(EXAMPLES / "steady.csv"))
    assert steady.summary().scaling_activities == 0
    for scenario in ("ramp", "spike", "daily"):
        sim = simulate(deployed_seed, read_load(EXAMPLES / f"{scenario}.csv"))
        assert sim.summary().peak_tasks > low, scenario
        assert sim.rows[-1].desired == low, scenario
        assert all(low <= r.desired <= high for r in sim.rows)

"""The scaling tests' service: the seed, built by hand (tests/support/seed.py)."""

from __future__ import annotations

import pytest

from emulator.model import ServiceDescription
from support.seed import build_seed_service


@pytest.fixture
def seed_service() -> ServiceDescription:
    return build_seed_service()

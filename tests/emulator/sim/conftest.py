"""Services for the simulator's tests: the seed built by hand, and the seed as the templates deploy it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from conftest import missing  # the rootdir conftest (tests/ is on the path)

from emulator.model import ServiceDescription
from support.seed import build_seed_service

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture
def seed_service() -> ServiceDescription:
    return build_seed_service()


def deploy(params: dict[str, str] | None = None) -> ServiceDescription:
    """The seed's templates deployed into the emulated account."""
    try:
        aws: Any = importlib.import_module("emulator.aws")
        emulated_account = aws.emulated_account
    except (ImportError, AttributeError) as exc:
        missing(f"emulator.aws.emulated_account is not available yet: {exc}")
        raise AssertionError("unreachable") from exc
    with emulated_account(templates_dir=None, params=params or {}) as account:
        service: ServiceDescription = account.service
    return service


@pytest.fixture(scope="module")
def deployed_seed() -> ServiceDescription:
    return deploy()

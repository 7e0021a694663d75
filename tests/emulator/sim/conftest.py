"""Services for the simulator's tests: the seed built by hand, and the seed as the templates deploy it."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import missing  # the rootdir conftest (tests/ is on the path)

from emulator.model import ServiceDescription

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"


def _load_seed_builder() -> Callable[[], ServiceDescription]:
    """The scaling tests' hand-built seed (one definition for both test folders)."""
    path = Path(__file__).resolve().parents[1] / "scaling" / "conftest.py"
    spec = importlib.util.spec_from_file_location("scaling_seed_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    builder: Callable[[], ServiceDescription] = module.build_seed_service
    return builder


build_seed_service = _load_seed_builder()


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

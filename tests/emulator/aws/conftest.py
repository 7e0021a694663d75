"""Deployments of the three stacks into moto (each test its own: moto's mocks must not nest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.aws import EmulatedAccount, emulated_account

LOCAL_REDIS_PORT = 6390  # any value: the tests check that ElastiCache resolves to it


@pytest.fixture(scope="session")
def local_redis_port() -> int:
    """The port ElastiCache endpoints resolve to in these deployments."""
    return LOCAL_REDIS_PORT


@pytest.fixture
def deployed() -> Iterator[EmulatedAccount]:
    """The default deployment (step scaling), for tests that only read."""
    with emulated_account(redis_host="127.0.0.1", redis_port=LOCAL_REDIS_PORT) as account:
        yield account


@pytest.fixture
def account() -> Iterator[EmulatedAccount]:
    """A fresh deployment a test may change."""
    with emulated_account(redis_port=LOCAL_REDIS_PORT) as fresh:
        yield fresh


@pytest.fixture(params=["mock_aws", "server"])
def either(request: pytest.FixtureRequest) -> Iterator[EmulatedAccount]:
    """A fresh deployment, in-process (`mock_aws`) and as a ThreadedMotoServer the API reaches over HTTP."""
    with emulated_account(redis_port=LOCAL_REDIS_PORT, server=request.param == "server") as fresh:
        yield fresh

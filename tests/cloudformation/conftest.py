"""The CloudFormation tests' moto server: a ThreadedMotoServer in this process (custom models installed), with fake
credentials for boto3."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.aws import moto_server


@pytest.fixture
def endpoint_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto_server() as url:
        yield url

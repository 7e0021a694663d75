"""Fixtures shared by the emulator's tests."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def paris() -> Iterator[None]:
    """The local zone (the log files' zone) is Paris, UTC+1 in November: real times are shown in it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", "Europe/Paris")
        time.tzset()
        yield
    time.tzset()

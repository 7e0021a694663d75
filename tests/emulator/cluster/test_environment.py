"""A worker's environment: its task definition revision's, under what the emulator must decide itself."""

from __future__ import annotations

import pytest

from emulator.cluster.environment import worker_environment

OVERRIDES = {"HOST": "127.0.0.1", "PORT": "41234", "REDIS_URL": "redis://127.0.0.1:6400/0"}


@pytest.mark.parametrize(
    ("base", "revision", "expected"),
    [
        pytest.param(
            {},
            {"PING_INTERVAL": "2", "PING_TIMEOUT": "5"},
            {"PING_INTERVAL": "2", "PING_TIMEOUT": "5", **OVERRIDES},
            id="the revision's settings reach the worker",
        ),
        pytest.param(
            {},
            # chat-service.yml's PORT and the ElastiCache endpoint, which exists only in moto
            {
                "PORT": "3000",
                "REDIS_ENDPOINT": "chat.abc.cache.amazonaws.com",
                "REDIS_PORT": "6379",
                "REDIS_TLS": "true",
            },
            OVERRIDES,
            id="where it listens and which Redis it reaches are the emulator's",
        ),
        pytest.param(
            {"PATH": "/usr/bin", "PING_INTERVAL": "9", "REDIS_URL": "redis://elsewhere:1/0"},
            {"PING_INTERVAL": "2"},
            {"PATH": "/usr/bin", "PING_INTERVAL": "2", **OVERRIDES},
            id="the revision wins over the emulator's own environment",
        ),
        pytest.param(
            {},
            {"METRICS_PORT": "9100"},
            {"METRICS_PORT": "0", **OVERRIDES},
            id="a metrics port of its own, free, so that tasks do not collide",
        ),
        pytest.param(
            {}, {"METRICS_PORT": "off"}, {"METRICS_PORT": "off", **OVERRIDES}, id="metrics off stays off"
        ),
    ],
)
def test_worker_environment(base: dict[str, str], revision: dict[str, str], expected: dict[str, str]) -> None:
    assert worker_environment(revision, OVERRIDES, base=base) == expected


def test_without_a_redis_url_no_redis_location_is_left() -> None:
    """In-process workers on the shared embedded Redis: the revision's endpoint must not be followed."""
    env = worker_environment({"REDIS_ENDPOINT": "chat.cache.amazonaws.com", "REDIS_URL": "redis://x:1/0"}, {})

    assert env == {}

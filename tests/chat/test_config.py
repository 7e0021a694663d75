from __future__ import annotations

import pytest

from chat.config import ConfigError, Settings


def test_defaults_are_the_seeds_and_embedded_redis() -> None:
    settings = Settings.from_env({})
    assert settings.port == 3000
    assert settings.ping_interval == 4.0
    assert settings.ping_timeout == 8.0
    assert settings.redis_url is None and settings.embedded_redis


def test_redis_endpoint_as_in_the_seed_task_definition() -> None:
    assert Settings.from_env({"REDIS_ENDPOINT": "cache.example"}).redis_url == "redis://cache.example:6379/0"
    settings = Settings.from_env(
        {
            "REDIS_ENDPOINT": "cache.example",
            "REDIS_PORT": "6380",
            "REDIS_TLS": "true",
            "REDIS_PASSWORD": "p@ss/w",
        }
    )
    assert settings.redis_url == "rediss://:p%40ss%2Fw@cache.example:6380/0"
    assert "p%40ss" not in settings.redacted_redis_url


def test_redis_url_wins_over_endpoint() -> None:
    env = {"REDIS_URL": "redis://10.0.0.1:7000/2", "REDIS_ENDPOINT": "ignored"}
    assert Settings.from_env(env).redis_url == "redis://10.0.0.1:7000/2"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "70000"),
        ("PING_INTERVAL", "-1"),
        ("PING_TIMEOUT", "soon"),
        ("REDIS_URL", "http://example"),
        ("REDIS_URL", "redis://host:notaport"),
        ("REDIS_PORT", "x"),
        ("REDIS_TLS", "maybe"),
        ("MAX_MESSAGE_LENGTH", "0"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_a_wrong_value_names_the_variable(name: str, value: str) -> None:
    env = {name: value}
    if name in ("REDIS_PORT", "REDIS_TLS"):
        env["REDIS_ENDPOINT"] = "cache.example"
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)

from __future__ import annotations

import os
import subprocess
import sys

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


def test_limits_and_security_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.max_packet_bytes == 65536
    assert settings.connect_timeout == 10.0
    assert settings.allowed_origins == ()
    assert settings.metrics_port is None  # /metrics on PORT
    assert settings.require_redis is False


def test_allowed_origins_are_normalised() -> None:
    env = {"ALLOWED_ORIGINS": " https://Chat.Example:443 ,http://[::1]:3000,, http://other.example/ "}
    assert Settings.from_env(env).allowed_origins == (
        "https://chat.example",
        "http://[::1]:3000",
        "http://other.example",
    )


def test_the_delivery_window_is_off_by_default_and_given_in_milliseconds() -> None:
    assert Settings.from_env({}).delivery_window == 0.0
    assert Settings.from_env({"DELIVERY_WINDOW_MS": "20"}).delivery_window == 0.02


def test_metrics_port_off_or_a_number() -> None:
    assert Settings.from_env({"METRICS_PORT": "off"}).metrics_port == "off"
    assert Settings.from_env({"METRICS_PORT": "OFF"}).metrics_port == "off"
    assert Settings.from_env({"METRICS_PORT": "9100"}).metrics_port == 9100


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_PACKET_BYTES", "100"),
        ("MAX_PACKET_BYTES", "big"),
        ("CONNECT_TIMEOUT", "0"),
        ("ALLOWED_ORIGINS", "chat.example"),
        ("ALLOWED_ORIGINS", "https://chat.example/path"),
        ("ALLOWED_ORIGINS", "ftp://chat.example"),
        ("ALLOWED_ORIGINS", "null"),
        ("METRICS_PORT", "3000"),  # the same as PORT
        ("METRICS_PORT", "metrics"),
        ("CHAT_REQUIRE_REDIS", "perhaps"),
        ("DELIVERY_WINDOW_MS", "-1"),
        ("DELIVERY_WINDOW_MS", "1001"),
        ("DELIVERY_WINDOW_MS", "soon"),
    ],
)
def test_a_wrong_limit_or_security_setting_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    "env",
    [
        {"CHAT_REQUIRE_REDIS": "true"},
        {"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/0123"},
        {"ECS_CONTAINER_METADATA_URI": "http://169.254.170.2/v3/0123"},
    ],
)
def test_no_redis_where_redis_is_required_names_the_variables(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env)
    message = str(error.value)
    assert "REDIS_ENDPOINT" in message and "REDIS_URL" in message
    assert next(iter(env)) in message  # and says why Redis is required
    assert Settings.from_env({**env, "REDIS_ENDPOINT": "cache.example"}).require_redis is True
    assert Settings.from_env({**env, "REDIS_URL": "redis://cache.example:6379/0"}).redis_url


def test_on_ecs_the_embedded_redis_can_still_be_chosen_explicitly() -> None:
    env = {"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/0123", "CHAT_REQUIRE_REDIS": "false"}
    settings = Settings.from_env(env)
    assert settings.embedded_redis and settings.require_redis is False


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/0123"), ("CHAT_REQUIRE_REDIS", "true")],
)
def test_python_m_chat_without_redis_where_it_is_required_exits_2(variable: str, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ECS_", "CHAT_"))}
    env.update({variable: value, "PORT": "0", "HOST": "127.0.0.1"})
    done = subprocess.run(
        [sys.executable, "-m", "chat"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    assert "configuration error" in done.stderr
    assert "REDIS_ENDPOINT" in done.stderr and "REDIS_URL" in done.stderr and variable in done.stderr

"""Settings from the environment, twelve-factor; a wrong value fails at start-up naming the variable.

| variable             | default   | meaning                                                              |
|----------------------|-----------|----------------------------------------------------------------------|
| PORT                 | 3000      | TCP port the worker listens on (0 = any free port)                   |
| HOST                 | 0.0.0.0   | address to bind                                                      |
| REDIS_URL            | (unset)   | full URL: redis://[:password@]host:port/db or rediss://... (TLS)     |
| REDIS_ENDPOINT       | (unset)   | Redis host, as the seed's task definition sets it                    |
| REDIS_PORT           | 6379      | port used with REDIS_ENDPOINT                                        |
| REDIS_PASSWORD       | (unset)   | AUTH token (ElastiCache auth token) used with REDIS_ENDPOINT         |
| REDIS_TLS            | false     | `true` connects to REDIS_ENDPOINT with TLS (rediss://)               |
| REDIS_KEY_PREFIX     | chat      | prefix of every Redis key and pub/sub channel this service uses      |
| PING_INTERVAL        | 4         | Engine.IO heartbeat interval, seconds (the seed's value)             |
| PING_TIMEOUT         | 8         | Engine.IO heartbeat timeout, seconds; also presence staleness        |
| MAX_USERNAME_LENGTH  | 32        | longest accepted username, characters                                |
| MAX_MESSAGE_LENGTH   | 2000      | longest accepted message, characters                                 |
| RECOVERY_WINDOW      | 120       | seconds a disconnected client can come back and get what it missed   |
| LEAVE_GRACE          | 5         | seconds before a dropped (not logged-out) user is announced as left  |
| PUBLISH_TIMEOUT      | 10        | seconds a send waits for an unreachable Redis before a retryable no  |
| DELIVERY_WINDOW_MS   | 0         | ms the broadcast reader gathers after a delivery (0: at once)        |
| MAX_CONNECTIONS      | 10000     | connections one worker accepts; more are refused ("server full")     |
| MESSAGE_RATE         | 10        | messages per second per connection (token bucket)...                 |
| MESSAGE_BURST        | 20        | ...and the burst it allows                                           |
| MESSAGE_QUEUE        | 100       | events one connection may have waiting their turn; more: retry later |
| TYPING_RATE          | 10        | typing / stop typing events per second per connection...             |
| TYPING_BURST         | 20        | ...and the burst it allows                                           |
| MAX_UNSENT_BYTES     | 1048576   | bytes waiting to be sent to one client before it is cut off as slow  |
| WS_COMPRESSION       | false     | `true` accepts permessage-deflate (more CPU per message, less bandwidth)|
| MAX_PACKET_BYTES     | 65536     | largest WebSocket message / polling POST body; bigger: close 1009 / 413 |
| CONNECT_TIMEOUT      | 10        | seconds an Engine.IO session may wait before its Socket.IO CONNECT    |
| ALLOWED_ORIGINS      | (unset)   | comma-separated origins (https://chat.example) allowed besides the page's own |
| METRICS_PORT         | (unset)   | unset: /metrics on PORT; `off`: not served; a number: only on that port |
| CHAT_REQUIRE_REDIS   | (see below)| `true`: no REDIS_URL / REDIS_ENDPOINT is a configuration error       |
| METRICS_NAMESPACE    | (unset)   | set: one ActiveConnections line a minute on stdout, in CloudWatch EMF (chat/emf.py) |
| CLUSTER_NAME         | (unset)   | ...its ClusterName dimension (the template sets it)                  |
| SERVICE_NAME         | (unset)   | ...its ServiceName dimension (the template sets it)                  |
| LOG_LEVEL            | INFO      | DEBUG, INFO, WARNING, ERROR                                          |

With neither REDIS_URL nor REDIS_ENDPOINT the worker runs on an embedded, in-process fakeredis: one worker,
nothing to install. On ECS (ECS_CONTAINER_METADATA_URI_V4 or ECS_CONTAINER_METADATA_URI is set)
CHAT_REQUIRE_REDIS defaults to true: there each task would otherwise pass its health checks while chatting alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar
from urllib.parse import quote, urlparse, urlsplit

from chat import emf

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ECS_METADATA_VARIABLES = ("ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI")
MAX_DELIVERY_WINDOW_MS = 1000  # a second of added latency is already more than a chat should trade
MIN_PACKET_BYTES = 1024  # the Engine.IO handshake and a chat message must fit
DEFAULT_PORTS = {"http": 80, "https": 443}


class ConfigError(ValueError):
    """A setting has a value the worker cannot run with; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 3000
    redis_url: str | None = None  # None: embedded fakeredis
    key_prefix: str = "chat"
    ping_interval: float = 4.0
    ping_timeout: float = 8.0
    max_username_length: int = 32
    max_message_length: int = 2000
    recovery_window: float = 120.0
    leave_grace: float = 5.0
    publish_timeout: float = 10.0
    delivery_window: float = 0.0  # seconds the reader waits after each delivery, to gather the next ones
    max_connections: int = 10000
    message_rate: float = 10.0
    message_burst: int = 20
    message_queue: int = 100
    typing_rate: float = 10.0
    typing_burst: int = 20
    max_unsent_bytes: int = 1024 * 1024
    ws_compression: bool = False
    max_packet_bytes: int = 64 * 1024
    connect_timeout: float = 10.0
    allowed_origins: tuple[str, ...] = ()  # besides the page's own (same host); normalised by `origin_of`
    metrics_port: int | Literal["off"] | None = None  # None: on PORT
    require_redis: bool = False
    log_level: str = "INFO"
    metrics_namespace: str | None = None  # None: no ActiveConnections EMF line (chat.emf)
    metric_dimensions: tuple[tuple[str, str], ...] = ()  # ClusterName / ServiceName, those that are set

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def presence_ttl(self) -> float:
        """An entry not refreshed for this long no longer counts (the seed's 8 s)."""
        return self.ping_timeout

    @property
    def redacted_redis_url(self) -> str:
        if self.redis_url is None:
            return "embedded fakeredis"
        parsed = urlparse(self.redis_url)
        if parsed.password:
            netloc = f"{parsed.username or ''}:***@{parsed.hostname}:{parsed.port or 6379}"
            return parsed._replace(netloc=netloc).geturl()
        return self.redis_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        redis_url = _redis_url(env)
        return cls(
            host=_get(env, "HOST", str, "0.0.0.0"),
            port=_get(env, "PORT", _port, 3000),
            redis_url=redis_url,
            key_prefix=_get(env, "REDIS_KEY_PREFIX", _nonempty, "chat"),
            ping_interval=_get(env, "PING_INTERVAL", _positive_float, 4.0),
            ping_timeout=_get(env, "PING_TIMEOUT", _positive_float, 8.0),
            max_username_length=_get(env, "MAX_USERNAME_LENGTH", _positive_int, 32),
            max_message_length=_get(env, "MAX_MESSAGE_LENGTH", _positive_int, 2000),
            recovery_window=_get(env, "RECOVERY_WINDOW", _positive_float, 120.0),
            leave_grace=_get(env, "LEAVE_GRACE", _non_negative_float, 5.0),
            publish_timeout=_get(env, "PUBLISH_TIMEOUT", _positive_float, 10.0),
            delivery_window=_get(env, "DELIVERY_WINDOW_MS", _window_ms, 0.0),
            max_connections=_get(env, "MAX_CONNECTIONS", _positive_int, 10000),
            message_rate=_get(env, "MESSAGE_RATE", _positive_float, 10.0),
            message_burst=_get(env, "MESSAGE_BURST", _positive_int, 20),
            message_queue=_get(env, "MESSAGE_QUEUE", _positive_int, 100),
            typing_rate=_get(env, "TYPING_RATE", _positive_float, 10.0),
            typing_burst=_get(env, "TYPING_BURST", _positive_int, 20),
            max_unsent_bytes=_get(env, "MAX_UNSENT_BYTES", _positive_int, 1024 * 1024),
            ws_compression=_get(env, "WS_COMPRESSION", _bool, False),
            max_packet_bytes=_get(env, "MAX_PACKET_BYTES", _packet_size, 64 * 1024),
            connect_timeout=_get(env, "CONNECT_TIMEOUT", _positive_float, 10.0),
            allowed_origins=_get(env, "ALLOWED_ORIGINS", _origins, ()),
            metrics_port=_metrics_port(env),
            require_redis=_require_redis(env, redis_url),
            log_level=_get(env, "LOG_LEVEL", _log_level, "INFO"),
            metrics_namespace=emf.metric_namespace(env),
            metric_dimensions=emf.metric_dimensions(env),
        )


def _get(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T) -> T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw.strip())
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not valid: {exc}") from None


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("a port is between 0 and 65535")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a whole number > 0")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a number of seconds > 0")
    return value


def _window_ms(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= MAX_DELIVERY_WINDOW_MS:
        raise ValueError(f"milliseconds from 0 to {MAX_DELIVERY_WINDOW_MS}")
    return value / 1000


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be a number of seconds >= 0")
    return value


def _nonempty(raw: str) -> str:
    if not raw:
        raise ValueError("must not be empty")
    return raw


def _log_level(raw: str) -> str:
    if raw.upper() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return raw.upper()


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _url(raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in ("redis", "rediss", "unix"):
        raise ValueError("the scheme must be redis://, rediss:// or unix://")
    if parsed.scheme != "unix" and not parsed.hostname:
        raise ValueError("the URL has no host")
    try:
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("the URL has an invalid port") from None
    return raw


def _redis_url(env: Mapping[str, str]) -> str | None:
    url = _get(env, "REDIS_URL", _url, "")
    if url:
        return url
    host = _get(env, "REDIS_ENDPOINT", _nonempty, "")
    if not host:
        return None
    if "/" in host or " " in host:
        raise ConfigError(f"REDIS_ENDPOINT={host!r} is not valid: expected a host name, not a URL")
    port = _get(env, "REDIS_PORT", _port, 6379)
    tls = _get(env, "REDIS_TLS", _bool, False)
    password = env.get("REDIS_PASSWORD", "")
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"{'rediss' if tls else 'redis'}://{auth}{host}:{port}/0"


def _packet_size(raw: str) -> int:
    value = int(raw)
    if value < MIN_PACKET_BYTES:
        raise ValueError(f"must be a number of bytes >= {MIN_PACKET_BYTES}")
    return value


def origin_of(raw: str) -> str | None:
    """`scheme://host[:port]` in lower case without a default port, or None if `raw` is not an http(s) origin."""
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host = parts.netloc.lower().rsplit("@", 1)[-1]
    if port is not None:
        host = host.rsplit(":", 1)[0]
    return f"{scheme}://{host}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def _origins(raw: str) -> tuple[str, ...]:
    origins: list[str] = []
    for item in raw.split(","):
        if not item.strip():
            continue
        origin = origin_of(item)
        if origin is None:
            raise ValueError(f"{item.strip()!r} is not an origin like https://chat.example.com[:port]")
        origins.append(origin)
    return tuple(origins)


def _metrics_port(env: Mapping[str, str]) -> int | Literal["off"] | None:
    raw = env.get("METRICS_PORT", "").strip()
    if not raw:
        return None
    if raw.lower() == "off":
        return "off"
    port = _get(env, "METRICS_PORT", _port, 0)
    main = _get(env, "PORT", _port, 3000)
    if port == main and port != 0:
        raise ConfigError(
            f"METRICS_PORT={raw!r} is not valid: it must differ from PORT (unset serves /metrics on PORT)"
        )
    return port


def _require_redis(env: Mapping[str, str], redis_url: str | None) -> bool:
    on_ecs = [name for name in ECS_METADATA_VARIABLES if env.get(name, "").strip()]
    required = _get(env, "CHAT_REQUIRE_REDIS", _bool, bool(on_ecs))
    if required and redis_url is None:
        why = (
            f"running on ECS ({on_ecs[0]} is set)"
            if on_ecs and not env.get("CHAT_REQUIRE_REDIS", "").strip()
            else "CHAT_REQUIRE_REDIS=true"
        )
        raise ConfigError(
            f"no Redis configured: set REDIS_ENDPOINT (host; REDIS_PORT, REDIS_TLS, REDIS_PASSWORD) or REDIS_URL. "
            f"The embedded fakeredis is refused because {why}: every worker would chat alone "
            "(CHAT_REQUIRE_REDIS=false allows it, for a single worker)."
        )
    return required

"""Where ElastiCache endpoints point in the emulator: a local Redis, per account and region."""

from __future__ import annotations

DEFAULT_REDIS = ("127.0.0.1", 6379)

_redis: dict[tuple[str, str], tuple[str, int]] = {}


def set_redis_endpoint(account_id: str, region_name: str, host: str, port: int) -> None:
    """Make every ElastiCache endpoint of this account and region resolve to `host:port`."""
    _redis[(account_id, region_name)] = (host, port)


def redis_endpoint(account_id: str, region_name: str) -> tuple[str, int]:
    return _redis.get((account_id, region_name), DEFAULT_REDIS)

"""The environment a worker runs with: its task definition revision's, under the emulator's own overrides.

ECS starts each container with the `environment` of the task's own task definition revision (ECS-API
`ContainerDefinition.environment`; a task keeps the revision it was launched with, ECS-DEPLOY), so a new revision
reaches only new tasks. The emulator runs every task on one machine, so a few values are its own and win over the
revision's: where the worker listens (HOST, PORT) and which Redis it reaches. The revision's REDIS_ENDPOINT names
an ElastiCache host that exists only in moto, so every Redis variable of the revision is dropped and the
emulator's REDIS_URL, when it has one, is the one source of truth. A METRICS_PORT number in the revision would
make every task but the first fail to bind on one machine: each task gets a free port of its own instead.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Where a worker finds Redis (chat/config.py): decided by the emulator, never by the revision.
REDIS_LOCATION_VARIABLES = ("REDIS_URL", "REDIS_ENDPOINT", "REDIS_PORT", "REDIS_TLS", "REDIS_PASSWORD")


def worker_environment(
    revision: Mapping[str, str],
    overrides: Mapping[str, str],
    *,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """`base` (e.g. the emulator's own OS environment), then the revision's values, then the overrides; the Redis
    location comes only from the overrides."""
    env = {**(base or {}), **revision}
    for name in REDIS_LOCATION_VARIABLES:
        env.pop(name, None)
    if env.get("METRICS_PORT", "").strip().isdigit():
        env["METRICS_PORT"] = "0"  # a listener of its own, as the revision asks, on a port of its own
    env.update(overrides)
    return env

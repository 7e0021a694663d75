"""The chat's own CloudWatch metric: active connections per task, in the embedded metric format (EMF) on stdout.

On Fargate a task's stdout goes to CloudWatch Logs through the awslogs log driver, and CloudWatch Logs turns a log
event written in EMF into metric data by itself: no PutMetricData call, no task role, no agent. When
`METRICS_NAMESPACE` is set (cloudformation/chat-service.yml sets it when the service scales on connections), each
worker prints one line a minute:

    {"_aws": {"Timestamp": 1767225600000, "CloudWatchMetrics": [{"Namespace": "FargateChat",
      "Dimensions": [["ClusterName", "ServiceName"]], "Metrics": [{"Name": "ActiveConnections", "Unit": "Count"}]}]},
     "ClusterName": "fargate-chat", "ServiceName": "chat", "ActiveConnections": 812}

One datum per task per minute: the metric's Average is the connections per task, and its SampleCount the tasks
that reported, which is what a target tracking policy on it needs (a value proportional to the capacity). The
emulator publishes the same metric from its live workers (`emulator.telemetry`), keyed by `metric_dimensions`.

The lines go through one logger, `chat.emf` (`LOGGER`), whose records are the bare JSON: `python -m chat` gives it
a plain `%(message)s` handler on stdout (`log_to_stdout`), apart from its other logs on stderr, so that each line
is a log event of pure JSON, as CloudWatch Logs needs to extract the metric; a worker running inside the emulator
(in-process) leaves it to the emulator's logging, like its uvicorn lines. `publish(...)` is the worker's
background task; the count it writes is the one `/metrics` serves as `chat_connections`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping

NAMESPACE_VARIABLE = "METRICS_NAMESPACE"
DIMENSION_VARIABLES = (("ClusterName", "CLUSTER_NAME"), ("ServiceName", "SERVICE_NAME"))
ACTIVE_CONNECTIONS = "ActiveConnections"
PERIOD_SECONDS = 60.0
LOGGER = "chat.emf"

log = logging.getLogger(LOGGER)


def metric_namespace(env: Mapping[str, str]) -> str | None:
    """The namespace the worker publishes under; None (publish nothing) when unset or empty."""
    return env.get(NAMESPACE_VARIABLE) or None


def metric_dimensions(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """ClusterName / ServiceName from the task's environment (the ones that are set)."""
    return tuple((name, env[variable]) for name, variable in DIMENSION_VARIABLES if env.get(variable))


def record(
    namespace: str, dimensions: tuple[tuple[str, str], ...], connections: int, timestamp_ms: int
) -> str:
    """One EMF log event (one line of JSON) carrying `connections` as ActiveConnections."""
    document: dict[str, object] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [[name for name, _ in dimensions]],
                    "Metrics": [{"Name": ACTIVE_CONNECTIONS, "Unit": "Count"}],
                }
            ],
        },
        **dict(dimensions),
        ACTIVE_CONNECTIONS: connections,
    }
    return json.dumps(document, separators=(",", ":"))


async def publish(
    namespace: str,
    dimensions: tuple[tuple[str, str], ...],
    connections: Callable[[], int],
    period: float = PERIOD_SECONDS,
    wall: Callable[[], float] = time.time,
) -> None:
    """Every `period` seconds, until cancelled: one `record` of `connections()` through the `chat.emf` logger."""
    while True:
        await asyncio.sleep(period)
        log.info("%s", record(namespace, dimensions, connections(), int(wall() * 1000)))


def log_to_stdout() -> None:
    """`python -m chat`: the `chat.emf` records on stdout, each its bare message, whatever LOG_LEVEL says."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # not also on stderr with a timestamp and level in front

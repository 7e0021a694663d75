"""The chat's ActiveConnections metric (chat.emf): one line of pure JSON in CloudWatch's embedded metric format,
printed on stdout by a worker whose METRICS_NAMESPACE is set, with the connections `/metrics` counts; nothing
without it. Real python-socketio clients against a real worker (the `python -m chat` process and in-process)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from conftest import free_port, wait_for_port

from chat import emf
from chat.config import Settings
from chat.server import ChatWorker

ENV = {"METRICS_NAMESPACE": "FargateChat", "CLUSTER_NAME": "fargate-chat", "SERVICE_NAME": "chat"}
DIMENSIONS = (("ClusterName", "fargate-chat"), ("ServiceName", "chat"))
PERIOD = 0.2  # seconds between two lines, instead of a minute

# `python -m chat` itself, with the period shortened in code (not a setting a deployment could change)
RUN_WORKER = (
    "import sys; from chat.server import ChatWorker; from chat.__main__ import main; "
    f"ChatWorker.metric_period = {PERIOD}; sys.exit(main([]))"
)


def metric_of(line: str) -> tuple[str, dict[str, str], float]:
    """(namespace, dimensions, ActiveConnections) of one EMF log event, checking it is one the way CloudWatch Logs
    reads it: a JSON object whose `_aws` names the metric, and the members the directive points to."""
    document: dict[str, Any] = json.loads(line)
    directive = document["_aws"]
    assert isinstance(directive["Timestamp"], int) and directive["Timestamp"] > 1_600_000_000_000
    (metrics,) = directive["CloudWatchMetrics"]
    assert metrics["Metrics"] == [{"Name": "ActiveConnections", "Unit": "Count"}]
    (dimension_set,) = metrics["Dimensions"]
    dimensions = {name: document[name] for name in dimension_set}
    assert all(isinstance(v, str) for v in dimensions.values())
    value = document["ActiveConnections"]
    assert isinstance(value, int | float)
    return metrics["Namespace"], dimensions, float(value)


def test_a_record_is_one_line_of_emf_naming_the_metric_and_its_dimensions() -> None:
    line = emf.record("FargateChat", DIMENSIONS, 812, 1767225600000)
    assert "\n" not in line
    assert metric_of(line) == ("FargateChat", {"ClusterName": "fargate-chat", "ServiceName": "chat"}, 812.0)
    assert json.loads(line)["_aws"]["Timestamp"] == 1767225600000


def test_the_settings_read_the_namespace_and_the_dimensions_that_are_set() -> None:
    settings = Settings.from_env(ENV)
    assert settings.metrics_namespace == "FargateChat"
    assert settings.metric_dimensions == DIMENSIONS
    assert Settings.from_env({"SERVICE_NAME": "chat"}).metrics_namespace is None
    assert Settings.from_env({**ENV, "METRICS_NAMESPACE": ""}).metrics_namespace is None


async def connected(url: str, count: int) -> list[socketio.AsyncClient]:
    clients = [socketio.AsyncClient(reconnection=False) for _ in range(count)]
    for client in clients:
        await client.connect(url, transports=["websocket"], wait_timeout=10)
    return clients


async def disconnect(clients: list[socketio.AsyncClient]) -> None:
    for client in clients:
        await client.disconnect()


@pytest.fixture
async def worker_process() -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    # LOG_LEVEL=WARNING: the metric's lines do not depend on the log level (they are not diagnostics)
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "WARNING", **ENV})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUN_WORKER, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        await asyncio.to_thread(wait_for_port, "127.0.0.1", port)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 15)


async def test_python_m_chat_prints_its_open_connections_on_stdout_as_pure_json(
    worker_process: tuple[str, asyncio.subprocess.Process],
) -> None:
    url, proc = worker_process
    assert proc.stdout is not None
    clients = await connected(url, 3)
    try:
        deadline = time.monotonic() + 10
        while True:  # lines from before the third client connected say fewer
            line = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
            assert line.endswith("\n") and not line.startswith(" ")  # one event per line, nothing in front
            namespace, dimensions, value = metric_of(line)
            if value == 3 or time.monotonic() > deadline:
                break
        assert (namespace, dimensions, value) == ("FargateChat", dict(DIMENSIONS), 3.0)
        await disconnect(clients[:2])
        clients = clients[2:]
        seen = [metric_of((await asyncio.wait_for(proc.stdout.readline(), 5)).decode())[2] for _ in range(5)]
        assert seen[-1] == 1.0 and set(seen) <= {3.0, 2.0, 1.0}, seen
    finally:
        await disconnect(clients)


def emf_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == emf.LOGGER]


async def in_process_worker(env: dict[str, str]) -> ChatWorker:
    settings = Settings.from_env({"HOST": "127.0.0.1", "PORT": "0", **env})
    worker = ChatWorker(settings)
    worker.metric_period = PERIOD
    await worker.start()
    return worker


async def test_an_in_process_worker_leaves_its_lines_to_the_embedders_logging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Inside the emulator the lines go where its logging sends the worker's other records (the log file)."""
    caplog.set_level(logging.INFO, logger=emf.LOGGER)
    worker = await in_process_worker(ENV)
    clients = await connected(worker.url, 4)
    try:
        assert worker.app is not None and worker.app.connection_count == 4
        await asyncio.sleep(PERIOD * 3)
        values = [metric_of(line)[2] for line in emf_lines(caplog)]
        assert values and values[-1] == 4.0, values
    finally:
        await disconnect(clients)
        await worker.stop(timeout=5)


async def test_a_worker_without_a_namespace_prints_no_metric(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=emf.LOGGER)
    worker = await in_process_worker({"CLUSTER_NAME": "fargate-chat", "SERVICE_NAME": "chat"})
    clients = await connected(worker.url, 2)
    try:
        await asyncio.sleep(PERIOD * 3)
        assert emf_lines(caplog) == []
    finally:
        await disconnect(clients)
        await worker.stop(timeout=5)

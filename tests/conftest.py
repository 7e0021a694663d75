"""Shared fixtures: real Redis servers, free ports, and the CI rule that a missing dependency fails.

Under `CI=true` a test that needs a real redis-server or a browser fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SHARED_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def missing(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where every dependency must be present."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


@pytest.fixture
def shared_redis_url() -> str:
    """The machine's Redis (127.0.0.1:6379); tests isolate themselves with `key_prefix`."""
    import redis

    try:
        redis.Redis.from_url(SHARED_REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        missing(f"no Redis server at {SHARED_REDIS}: {exc}")
    return SHARED_REDIS


@pytest.fixture
def key_prefix() -> str:
    """A prefix no other test (or test run) shares, for keys and pub/sub channels."""
    return f"test-{uuid.uuid4().hex[:10]}"


@dataclass
class PrivateRedis:
    """A redis-server of this test's own, on a free port, that the test may stop and restart."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            missing("redis-server is not installed")
            raise AssertionError("unreachable")
        self.process = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port("127.0.0.1", self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis(port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()

"""The emulator's Redis (its ElastiCache): the user's, a private redis-server, or fakeredis over TCP.

Choice, in order:
1. `--redis-url URL`: use it as is (the emulator neither starts nor stops it).
2. `--isolation process` with `redis-server` on PATH: a private redis-server on a free loopback port,
   no persistence, stopped with the emulator.
3. Otherwise: `fakeredis.TcpFakeServer` (fakeredis >= 2.41: RESP over TCP with pub/sub) on a free
   loopback port, in a thread of this process. In-process workers share its very `FakeServer`
   object (no sockets on their hot path), and OS-process workers and `redis-cli` reach the same data
   over TCP, so the ElastiCache endpoint written into moto is a real one in every mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import threading
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from emulator.cluster.process import _die_with_parent, _port_open, free_port

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RedisEndpoint:
    host: str
    port: int
    url: str
    fake_server: Any = None  # the shared fakeredis.FakeServer, when the Redis lives in this process


class RedisBackend(Protocol):
    description: str

    async def start(self) -> RedisEndpoint: ...

    async def stop(self) -> None: ...


class ExternalRedis:
    """A Redis the user runs (`--redis-url`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.description = f"external Redis at {url}"

    async def start(self) -> RedisEndpoint:
        parts = urlsplit(self.url)
        return RedisEndpoint(parts.hostname or "127.0.0.1", parts.port or 6379, self.url)

    async def stop(self) -> None:
        return None


class RedisServerProcess:
    """A private `redis-server` on a free loopback port, without persistence."""

    def __init__(self, executable: str) -> None:
        self._exe = executable
        self._proc: asyncio.subprocess.Process | None = None
        self.description = "private redis-server"
        self.port = 0  # chosen on the first start; a later start (a restart) listens on the same port

    async def start(self) -> RedisEndpoint:
        port = self.port = self.port or free_port()
        argv = [self._exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
        async with asyncio.timeout(15):
            while not await _port_open("127.0.0.1", port):
                if self._proc.returncode is not None:
                    raise RuntimeError(f"redis-server exited with code {self._proc.returncode}")
                await asyncio.sleep(0.05)
        self.description = f"private redis-server (pid {self._proc.pid}) on 127.0.0.1:{port}"
        return RedisEndpoint("127.0.0.1", port, f"redis://127.0.0.1:{port}/0")

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            async with asyncio.timeout(5):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


class FakeTcpRedis:
    """fakeredis's TCP server in a thread; in-process workers use its FakeServer directly."""

    def __init__(self) -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.description = "embedded fakeredis"

    async def start(self) -> RedisEndpoint:
        from fakeredis import TcpFakeServer

        self._server = TcpFakeServer(("127.0.0.1", 0))
        port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="fakeredis-tcp",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )
        self._thread.start()
        self.description = f"embedded fakeredis (in this process, TCP on 127.0.0.1:{port})"
        return RedisEndpoint("127.0.0.1", port, f"redis://127.0.0.1:{port}/0", self._server.fake_server)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        await asyncio.to_thread(server.shutdown)
        with contextlib.suppress(OSError):
            await asyncio.to_thread(server.server_close)  # joins its handler threads
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)


def choose_redis_backend(isolation: str, redis_url: str | None) -> RedisBackend:
    """The emulator's Redis for this isolation mode (see the module docstring for the order)."""
    if redis_url:
        return ExternalRedis(redis_url)
    if isolation == "process":
        exe = shutil.which("redis-server")
        if exe is not None:
            return RedisServerProcess(exe)
    return FakeTcpRedis()

"""One load-generator process: connect its share of the clients, wait for the common start, send, drain.

The parent (`emulator.loadgen.procs`) talks to it over a pipe: the process answers `("ready", n)` when its
clients are logged in, waits for `("start", start_us)` (a CLOCK_MONOTONIC time shared by all processes),
sends until the end of the measured window, drains, and answers `("result", ProcessResult)`. Live counters
go to a shared array every 0.2 s for the progress bar.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from emulator.loadgen import protocol as p
from emulator.loadgen.client import Client, Tally, describe, now_us
from emulator.loadgen.stats import ProcessResult
from emulator.tasks import TaskSet

# slots per process in the shared progress array
PROGRESS_SLOTS = 3  # connected, sent, received
CONNECTED, SENT, RECEIVED = 0, 1, 2


@dataclass(frozen=True)
class LoadConfig:
    urls: tuple[str, ...]
    clients: int
    senders: int
    rate: float
    duration: float
    warmup: float = 2.0
    drain: float = 2.0
    typing: bool = False
    transport: str = "websocket"
    payload: int = 0
    procs: int = 1
    connect_timeout: float = 30.0
    connect_concurrency: int = 50
    run: str = "run"
    name_prefix: str = "load"  # usernames are prefix + index; loads run back to back need their own

    def indexes(self, proc: int) -> range:
        """The global client indexes process `proc` runs: every `procs`-th one."""
        return range(proc, self.clients, self.procs)

    def url_for(self, index: int) -> str:
        return self.urls[index % len(self.urls)]


class ProcessRun:
    """The clients of one process and what they do, on this process's event loop."""

    def __init__(self, config: LoadConfig, proc: int, publish: Callable[[int, int], None]) -> None:
        self.config = config
        self.proc = proc
        self.publish = publish
        self.tally = Tally(run=config.run)
        self.clients: list[Client] = []
        self._tasks = TaskSet()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A named task, referenced until done; one that dies is logged and counted as an error of the run."""
        task = self._tasks.spawn(coro, name)
        task.add_done_callback(self._count_death)
        return task

    def _count_death(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.tally.result.error(f"task {task.get_name()} died: {task.exception()!r}")

    async def connect_all(self, sessions: Callable[[], aiohttp.ClientSession]) -> None:
        result = self.tally.result
        gate = asyncio.Semaphore(self.config.connect_concurrency)

        async def one(index: int) -> None:
            client = Client(
                index, self.config.url_for(index), self.tally, self.config.transport, self.config.name_prefix
            )
            async with gate:
                try:
                    login_ms = await client.connect(sessions(), self.config.connect_timeout)
                except (Exception, TimeoutError) as exc:
                    result.connect_failed += 1
                    result.error(f"client {index} {client.url}: {describe(exc)}")
                    await client.close()
                    return
            result.logged_in += 1
            result.login_ms.append(login_ms)
            if client.connected_ms is not None:
                result.connect_ms.append(client.connected_ms)
            self.clients.append(client)
            self.spawn(client.read_loop(), f"loadgen-read-{index}")

        indexes = self.config.indexes(self.proc)
        result.clients = len(indexes)
        await asyncio.gather(*(one(i) for i in indexes))

    async def send_loop(self, client: Client, start_us: int) -> None:
        """`rate` messages/s from one sender on an absolute schedule, with a random phase.

        `sent_measured` counts every message due in the measured window, sent or not: a sender whose
        connection broke still owes its messages, and they show up as loss."""
        config = self.config
        result = self.tally.result
        interval_us = int(1_000_000 / config.rate)
        end_us = start_us + int((config.warmup + config.duration) * 1_000_000)
        padding = "x" * config.payload
        due = start_us + random.randrange(interval_us)
        seq = 0
        while due < end_us:
            delay = due - now_us()
            if delay > 0:
                await asyncio.sleep(delay / 1_000_000)
            else:
                result.send_lag_ms_max = max(result.send_lag_ms_max, -delay / 1000.0)
            if config.typing:
                await client.send(p.event("typing"))
            sent_us = now_us()
            text = p.mark(config.run, client.index, seq, sent_us, padding)
            if await client.send(p.event("new message", text)):
                result.sent_total += 1
            else:
                result.send_failed += 1  # the schedule goes on: what could not be sent is lost, not forgotten
            seq += 1
            if self.tally.window_start_us <= sent_us < self.tally.window_end_us:
                result.sent_measured += 1
            if config.typing:
                await client.send(p.event("stop typing"))
            due += interval_us

    async def progress_loop(self) -> None:
        result = self.tally.result
        while True:
            self.publish(CONNECTED, result.logged_in)
            self.publish(SENT, result.sent_total)
            self.publish(RECEIVED, result.received_total)
            await asyncio.sleep(0.2)

    async def run_load(self, start_us: int) -> None:
        config = self.config
        self.tally.window_start_us = start_us + int(config.warmup * 1_000_000)
        self.tally.window_end_us = self.tally.window_start_us + int(config.duration * 1_000_000)
        senders = [c for c in self.clients if c.index < config.senders]
        loops = [self.spawn(self.send_loop(c, start_us), f"loadgen-send-{c.index}") for c in senders]
        await asyncio.sleep(max(0.0, (start_us - now_us()) / 1_000_000))
        await asyncio.gather(*loops, return_exceptions=True)
        end_us = self.tally.window_end_us + int(config.drain * 1_000_000)
        await asyncio.sleep(max(0.0, (end_us - now_us()) / 1_000_000))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        await self._tasks.cancel_all()


async def run_process(
    config: LoadConfig, proc: int, pipe: Connection, publish: Callable[[int, int], None]
) -> ProcessResult:
    run = ProcessRun(config, proc, publish)
    progress = run.spawn(run.progress_loop(), f"loadgen-progress-{proc}")
    shared = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=False), cookie_jar=aiohttp.DummyCookieJar()
    )
    own: list[aiohttp.ClientSession] = []

    def session() -> aiohttp.ClientSession:
        if config.transport != "polling":
            return shared
        # its own cookie jar per client, so the ALB's stickiness cookie (AWSALB) sticks to this client
        own.append(aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))
        return own[-1]

    loop = asyncio.get_running_loop()
    try:
        await run.connect_all(session)
        pipe.send(("ready", run.tally.result.logged_in))
        command, start_us = await loop.run_in_executor(None, pipe.recv)
        if command == "start":
            await run.run_load(int(start_us))
    finally:
        progress.cancel()
        await run.close()
        await asyncio.gather(shared.close(), *(s.close() for s in own), return_exceptions=True)
    publish(RECEIVED, run.tally.result.received_total)
    return run.tally.result

"""Background tasks for every room of the emulator: named, referenced until done, logged when they die.

There is no bare `create_task` in the emulator: a `TaskSet` holds a hard reference to each task (the event loop
only keeps weak ones) and logs any task that dies of an error; `spawn()` does the same with one process-wide set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("emulator.tasks")

T = TypeVar("T")


class TaskSet:
    """Holds a hard reference to each task until it ends, and logs any task that dies of an error."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.adopt(task)
        return task

    def adopt(self, task: asyncio.Task[Any]) -> None:
        """Track a task someone else created (e.g. a stream server's connection handler)."""
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            log.debug("task %s cancelled", task.get_name())
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s died", task.get_name(), exc_info=exc)
        else:
            log.debug("task %s finished", task.get_name())

    def __len__(self) -> int:
        return len(self._tasks)

    async def wait(self, timeout: float) -> None:
        """Give the tasks up to `timeout` seconds (wall time) to end by themselves."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


_BACKGROUND = TaskSet()


def spawn(coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
    """Start `coro` as a named background task; it is logged if it dies of anything but cancellation."""
    return _BACKGROUND.spawn(coro, name)


async def wait_or_timeout(awaitable: asyncio.Future[Any] | asyncio.Task[Any], sleeper: Any) -> bool:
    """Wait for `awaitable` or for the `sleeper` coroutine (a clock sleep), whichever ends first.

    Returns True when `awaitable` finished first. `awaitable` is never cancelled: callers may keep waiting on
    it later (for example, after SIGKILL).
    """
    timer = asyncio.ensure_future(sleeper)
    try:
        done, _ = await asyncio.wait({awaitable, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    return awaitable in done

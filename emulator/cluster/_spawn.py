"""The cluster's only `create_task`: named, referenced until done, and logged when it dies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Keep a hard reference: the event loop only holds weak references to tasks.
_RUNNING: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
    """Start `coro` as a named background task; log it if it dies of anything but cancellation."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _RUNNING.add(task)
    task.add_done_callback(_reap)
    return task


def _reap(task: asyncio.Task[Any]) -> None:
    _RUNNING.discard(task)
    if task.cancelled():
        log.debug("background task %s cancelled", task.get_name())
        return
    exc = task.exception()
    if exc is not None:
        log.error("background task %s died", task.get_name(), exc_info=exc)
    else:
        log.debug("background task %s finished", task.get_name())


async def wait_or_timeout(awaitable: asyncio.Future[Any] | asyncio.Task[Any], sleeper: Any) -> bool:
    """Wait for `awaitable` or for the `sleeper` coroutine (a clock sleep), whichever ends first.

    Returns True when `awaitable` finished first. Neither side is cancelled if it is `awaitable`:
    callers keep waiting on it later (for example, after SIGKILL).
    """
    timer = asyncio.ensure_future(sleeper)
    try:
        done, _ = await asyncio.wait({awaitable, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    return awaitable in done

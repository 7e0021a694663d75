"""Lean stand-ins for `asyncio.Queue` and `asyncio.Event`, for the objects every connection holds.

An idle connection holds two queues (python-engineio's per-session packet queue, uvicorn's per-connection
receive queue) and one event (uvicorn's "writable" flag). asyncio's versions allocate their containers up front:
an empty `asyncio.Queue` holds four deques (items, getters, putters, and its `join` event's waiters), about 3 KB,
and an `asyncio.Event` one (760 bytes) — 7 KB of a 45 KB idle connection. These allocate nothing until something
waits or is queued, and give it back once the queue is empty again.

Only the unbounded queue is provided (both libraries create theirs with `maxsize=0`), with the methods they and
`chat._compat` call: `put`, `put_nowait`, `get` (with an optional timeout that needs no task of its own),
`get_nowait`, `empty`, `qsize`, `task_done`, `join`. Semantics
follow asyncio's, including a woken getter that is cancelled passing its wake-up on to the next one.
`chat._compat` puts them in place (python-engineio's documented `create_queue`, and a subclass of uvicorn's
WebSocket protocol).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Generic, TypeVar

T = TypeVar("T")


def _wake(waiters: list[asyncio.Future[None]] | None) -> None:
    """Wake the first waiter not already woken or cancelled."""
    while waiters:
        waiter = waiters.pop(0)
        if not waiter.done():
            waiter.set_result(None)
            return


def _time_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class LeanQueue(Generic[T]):
    """An unbounded FIFO queue, `asyncio.Queue`'s interface (see the module's docstring)."""

    __slots__ = ("_getters", "_items", "_joiners", "_unfinished")

    def __init__(self) -> None:
        self._items: collections.deque[T] | None = None
        self._getters: list[asyncio.Future[None]] | None = None
        self._joiners: list[asyncio.Future[None]] | None = None
        self._unfinished = 0

    def qsize(self) -> int:
        return len(self._items) if self._items is not None else 0

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return False

    def put_nowait(self, item: T) -> None:
        if self._items is None:
            self._items = collections.deque()
        self._items.append(item)
        self._unfinished += 1
        if self._getters:
            _wake(self._getters)
            if not self._getters:
                self._getters = None

    async def put(self, item: T) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> T:
        items = self._items
        if not items:
            raise asyncio.QueueEmpty
        item = items.popleft()
        if not items:
            self._items = None  # an idle connection keeps no container
        return item

    async def get(self, timeout: float | None = None) -> T:
        """The next item, waiting for it; with `timeout`, `TimeoutError` after that many seconds without one
        (a timer, where `asyncio.wait_for` would run the wait in a task of its own)."""
        loop: asyncio.AbstractEventLoop | None = None
        deadline: float | None = None
        while not self._items:
            if loop is None:
                loop = asyncio.get_running_loop()
                deadline = None if timeout is None else loop.time() + timeout
            getter: asyncio.Future[None] = loop.create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            timer = None if deadline is None else loop.call_at(deadline, _time_out, getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                getters = self._getters
                if getters is not None and getter in getters:
                    getters.remove(getter)
                if self._items and not getter.cancelled():
                    _wake(getters)  # it was woken for an item it will not take: the next getter takes it
                if not getters:
                    self._getters = None
                raise
            finally:
                if timer is not None:
                    timer.cancel()
            if not self._getters:
                self._getters = None
        return self.get_nowait()

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners is not None:
            joiners, self._joiners = self._joiners, None
            for joiner in joiners:
                if not joiner.done():
                    joiner.set_result(None)

    async def join(self) -> None:
        if self._unfinished == 0:
            return
        joiner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._joiners is None:
            self._joiners = []
        self._joiners.append(joiner)
        await joiner

    def __repr__(self) -> str:
        return f"<LeanQueue size={self.qsize()} unfinished={self._unfinished}>"


class LeanEvent:
    """`asyncio.Event`'s interface: `set`, `clear`, `is_set`, `wait`."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            waiters = self._waiters
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    self._waiters = None
        return True

    def __repr__(self) -> str:
        return f"<LeanEvent {'set' if self._value else 'unset'}>"

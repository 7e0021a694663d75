"""The lean queue and event (chat/lean.py) behave as asyncio's do where python-engineio and uvicorn rely on
it, and an empty queue holds no container."""

from __future__ import annotations

import asyncio

import pytest

from chat.lean import LeanEvent, LeanQueue


async def test_items_come_out_in_order_and_an_empty_queue_holds_nothing() -> None:
    queue: LeanQueue[int] = LeanQueue()
    assert queue.empty() and queue.qsize() == 0
    for item in (1, 2, 3):
        await queue.put(item)
    assert queue.qsize() == 3 and not queue.empty()
    assert [await queue.get(), queue.get_nowait(), await queue.get()] == [1, 2, 3]
    assert queue.empty()
    assert queue._items is None and queue._getters is None
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_a_waiting_getter_gets_the_next_item() -> None:
    queue: LeanQueue[str] = LeanQueue()
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.put_nowait("ping")
    assert await asyncio.wait_for(getter, 1) == "ping"
    assert queue._getters is None


async def test_a_get_that_times_out_takes_nothing() -> None:
    """python-engineio's writer waits with `wait_for(queue.get(), ...)`: a timeout leaves the queue usable."""
    queue: LeanQueue[str] = LeanQueue()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    assert queue._getters is None
    queue.put_nowait("later")
    assert queue.get_nowait() == "later"


async def test_a_get_with_a_timeout_times_out_or_returns_what_arrives() -> None:
    """python-engineio's writer (chat._compat.LeanSocket) waits with `get(timeout)`, a timer and no task."""
    queue: LeanQueue[str] = LeanQueue()
    with pytest.raises(TimeoutError):
        await queue.get(0.01)
    assert queue._getters is None
    getter = asyncio.ensure_future(queue.get(5))
    await asyncio.sleep(0)
    queue.put_nowait("in time")
    assert await asyncio.wait_for(getter, 1) == "in time"


async def test_a_woken_getter_that_is_cancelled_passes_the_item_to_the_next() -> None:
    queue: LeanQueue[str] = LeanQueue()
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("only")  # wakes the first getter ...
    first.cancel()  # ... which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == "only"
    assert first.cancelled()


async def test_join_waits_until_every_item_is_done() -> None:
    queue: LeanQueue[int] = LeanQueue()
    await queue.join()  # nothing unfinished: at once
    queue.put_nowait(1)
    queue.put_nowait(2)
    joined = asyncio.ensure_future(queue.join())
    queue.get_nowait()
    queue.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    queue.get_nowait()
    queue.task_done()
    await asyncio.wait_for(joined, 1)
    with pytest.raises(ValueError):
        queue.task_done()


async def test_the_event_wakes_every_waiter_and_stays_set_until_cleared() -> None:
    event = LeanEvent()
    assert not event.is_set()
    waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    event.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True, True]
    assert event.is_set() and await event.wait()
    event.clear()
    assert not event.is_set()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(event.wait(), 0.01)
    assert event._waiters is None  # a cancelled waiter is forgotten

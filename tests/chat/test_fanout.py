"""Reading the stream (chat/fanout.py): each entry delivered once, with its offset, to the worker's Delivery."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from chat import fanout as fanout_module
from chat.delivery import Packet
from chat.fanout import Fanout, StreamEntry
from chat.redis_backend import RedisFactory


class Delivery:
    """What Fanout hands its batches to."""

    def __init__(self) -> None:
        self.batches: list[list[Packet]] = []
        self.times: list[float] = []  # when each batch arrived (monotonic)

    def broadcast(self, packets: list[Packet]) -> None:
        self.batches.append(packets)
        self.times.append(time.monotonic())


def entry(n: int, text: str) -> StreamEntry:
    return StreamEntry(
        f"{n}-0", f'["new message",{{"username":"s","message":"{text}"}}]', "sender-pid", f"u{n}"
    )


def fanout(delivery: Delivery) -> Fanout:
    return Fanout(delivery, client=None, key_prefix="t", window_seconds=60, publish_timeout=1)  # type: ignore[arg-type]


def test_a_batch_reaches_delivery_with_offsets_and_the_readers_position() -> None:
    delivery = Delivery()
    out = fanout(delivery)
    out.deliver([entry(1, "one"), entry(2, "two")])
    (batch,) = delivery.batches
    assert [(p.entry_id, p.skip_pid) for p in batch] == [("1-0", "sender-pid"), ("2-0", "sender-pid")]
    assert batch[1].text.endswith(',"2-0"]')
    assert out.last_id == "2-0" and out.stats.entries_read == 2


def test_an_entry_published_twice_is_delivered_once() -> None:
    delivery = Delivery()
    out = fanout(delivery)
    twice = entry(7, "again")
    out.deliver([twice])
    out.deliver([twice._replace(entry_id="8-0")])  # the same unique id, a second stream entry
    assert [len(batch) for batch in delivery.batches] == [1, 0]
    assert out.stats.duplicates_dropped == 1 and out.last_id == "8-0"


async def reader_batches(url: str, prefix: str, window: float) -> tuple[list[list[Packet]], list[float]]:
    """Run a reader on a real Redis with `window`: one entry, then three more added together right after it was read.
    Returns the batches and the time (monotonic) each was delivered."""
    delivery = Delivery()
    client = RedisFactory(url).client(socket_timeout=10)
    out = Fanout(delivery, client, prefix, window_seconds=60, publish_timeout=1, delivery_window=window)  # type: ignore[arg-type]
    reader = asyncio.create_task(out.run_reader())
    try:
        while out.last_id is None:
            await asyncio.sleep(0.005)
        await out.publish("new message", {"n": 0})
        while not delivery.batches:
            await asyncio.sleep(0.005)
        for n in (1, 2, 3):
            await out.publish("new message", {"n": n})
        deadline = time.monotonic() + 5
        while sum(map(len, delivery.batches)) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await client.aclose()
    return delivery.batches, delivery.times


@pytest.mark.redis
async def test_a_delivery_window_gathers_what_arrives_meanwhile_into_one_batch(
    shared_redis_url: str, key_prefix: str
) -> None:
    batches, times = await reader_batches(shared_redis_url, key_prefix, 0.4)
    assert [len(batch) for batch in batches] == [1, 3]  # the first at once, the next three together
    assert times[1] - times[0] >= 0.35  # not before the window was over
    assert batches[1][0].text.startswith('2["new message",{"n":1}')


@pytest.mark.redis
async def test_without_a_window_the_reader_does_not_wait(shared_redis_url: str, key_prefix: str) -> None:
    batches, times = await reader_batches(shared_redis_url, key_prefix, 0.0)
    assert sum(map(len, batches)) == 4
    assert times[-1] - times[0] < 0.35  # measured against the test above: no window in between


class ScriptedReads:
    """A stand-in for the reader's Redis client: XREAD answers from a script, then `after()` for every call."""

    def __init__(self, script: list[list[Any]], after: Callable[[], Awaitable[Any]]) -> None:
        self.script, self.after, self.calls = list(script), after, 0

    async def xread(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.script.pop(0) if self.script else await self.after()


def stream_reply(*numbers: int) -> list[Any]:
    fields = {b"p": b'["new message",{}]', b"s": b"", b"u": b""}
    return [[b"t:broadcasts", [(f"{n}-0".encode(), fields) for n in numbers]]]


@pytest.mark.parametrize("then", ["returns", "fails"])
async def test_the_reader_stops_when_a_cancel_is_swallowed_below_it(
    then: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on Python 3.11 redis-py's wait_for around a socket write can drop a cancel; the command then runs to its end
    async def swallow_the_cancel() -> Any:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.2)
        if then == "fails":
            raise ConnectionError("Redis went away meanwhile")
        return []

    delivery = Delivery()
    out = fanout(delivery)
    out.last_id = "0-0"
    out.reader_client = ScriptedReads([stream_reply(1)], swallow_the_cancel)  # type: ignore[assignment]
    monkeypatch.setattr(out, "_check_gap", _nothing)  # the error path looks for a gap: no Redis here
    reader = asyncio.create_task(out.run_reader())
    while not delivery.batches:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the reader is in its second XREAD
    reader.cancel()
    done, _ = await asyncio.wait([reader], timeout=2)
    if not done:
        reader.cancel()
    assert done, "the reader kept reading after it was cancelled"
    assert not out.reader_ok


async def _nothing() -> None:
    return None


async def test_a_full_batch_is_not_held_by_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # behind by more than one XREAD's worth (a backlog, catching up): read on at once, not one batch per window
    monkeypatch.setattr(fanout_module, "READ_COUNT", 2)
    delivery = Delivery()
    out = Fanout(
        delivery, client=None, key_prefix="t", window_seconds=60, publish_timeout=1, delivery_window=1.0
    )  # type: ignore[arg-type]
    out.last_id = "0-0"
    out.reader_client = ScriptedReads(  # type: ignore[assignment]
        [stream_reply(1, 2), stream_reply(3, 4), stream_reply(5)], lambda: asyncio.sleep(60)
    )
    reader = asyncio.create_task(out.run_reader())
    try:
        while len(delivery.batches) < 3:
            await asyncio.sleep(0.01)
        # the first two batches were full: no window between them
        assert delivery.times[1] - delivery.times[0] < 0.5
        await asyncio.sleep(0.3)
        assert out.reader_client.calls == 3  # type: ignore[attr-defined]  # after a partial batch: the window
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader

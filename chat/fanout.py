"""Broadcasts across workers through one Redis Stream, delivered in one order everywhere, with offsets.

Why a Stream and not pub/sub: every entry has an id (the *offset* a client reports when it reconnects), the
last `window` seconds stay readable (`XRANGE` replays what a reconnecting client missed, on any worker), and a
reader that lost Redis for a while continues from its last id, so nothing published meanwhile is lost. Pub/sub
gives none of that (the anchors note measured 10 % loss over a 1 s Redis restart with python-socketio's manager).

- `publish()` XADDs `[event, data]` with the sender's private session id (to skip the sender), trimming entries
  older than the window (`MINID ~`). It returns only once Redis has the entry: that is what lets the caller ack.
  Connection and timeout errors are retried until the publish timeout (`chat.durable`), then `Unavailable` (the
  client retries); any other error is `Rejected` at once and never holds up the publishes behind it.
- After a Redis outage, entries this worker published but never read back (a Redis that restarted empty lost
  them) are published again by `run_republisher()`.
- `run_reader()` is the only delivery path, also for the worker's own messages: XREAD from the last id, drop an
  entry already delivered (same unique id), make each entry's `Packet` once (`42[event, data, "<offset>"]`) and
  hand the batch to `chat.delivery.Delivery`, which writes it to every local client but the sender.
- `delivery_window` (`DELIVERY_WINDOW_MS`, default 0): after each delivery the reader waits that long before its
  next XREAD, so what arrives meanwhile goes out together: one write per recipient and one Redis round trip for
  all of it instead of one per message. It trades latency (up to the window) for CPU; see benchmarks/RESULTS.md.
  A full batch (`READ_COUNT` entries) or catching up after an outage skips the wait.
- `missed_since()` reads what a reconnecting client missed, for its recovery (`Delivery.catch_up` writes it).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import redis.asyncio as aioredis

from chat.delivery import Delivery, Packet, id_lt, packet
from chat.durable import RETRY_FOREVER, Rejected, Unavailable, until_durable
from chat.redis_backend import as_text, stop_if_cancelled

log = logging.getLogger("chat.fanout")

READ_BLOCK_MS = 5000
READ_COUNT = 500
RETRY_SECONDS = 0.5
SEEN_LIMIT = 50_000  # unique ids remembered to drop an entry published twice
UNCONFIRMED_LIMIT = 10_000  # published entries remembered until read back, to republish after Redis lost them


PipelineHook = Callable[[Any], None]


@dataclass
class Entry:
    """A broadcast this worker published (kept until read back, to publish again if Redis lost it)."""

    uid: str
    payload: str
    skip_pid: str
    published_at: float = 0.0


class StreamEntry(NamedTuple):
    """One entry read back from the stream."""

    entry_id: str
    payload: str  # `[event, data]`, JSON
    skip_pid: str  # the sender's private session id: it does not get its own broadcast
    uid: str  # unique across publishes: the same uid twice is delivered once


@dataclass
class FanoutStats:
    published: int = 0
    entries_read: int = 0
    batches: int = 0  # XREADs that returned entries: entries_read / batches is the batch size
    waiting_now: int = 0  # publishes retrying while Redis is unreachable
    unavailable_refusals: int = 0  # publishes given up after the publish timeout (the client retries)
    rejected: int = 0  # publishes Redis can never take (refused at once)
    publish_retries: int = 0
    gaps: int = 0
    republished: int = 0
    duplicates_dropped: int = 0
    last_error: str = ""
    since_ok: float = field(default_factory=time.monotonic)


class Fanout:
    def __init__(
        self,
        delivery: Delivery,
        client: aioredis.Redis,
        key_prefix: str,
        *,
        window_seconds: float,
        publish_timeout: float,
        delivery_window: float = 0.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.delivery = delivery
        self.client = client
        self.reader_client = client  # XREAD BLOCK holds a connection: the app gives the reader its own client
        self.stream = f"{key_prefix}:broadcasts"
        self.window_ms = int(window_seconds * 1000)
        self.publish_timeout = publish_timeout
        self.delivery_window = delivery_window
        self._now = now
        self.last_id: str | None = None
        self.reader_ok = False
        self.stats = FanoutStats()
        self._republish: collections.deque[Entry] = collections.deque()  # lost by Redis, to publish again
        self._unconfirmed: dict[str, Entry] = {}  # published by this worker, not yet read back
        self._seen: set[str] = set()  # unique ids of recently delivered entries
        self._seen_order: collections.deque[str] = collections.deque()
        self._uid_prefix = secrets.token_hex(6) + "-"  # unique ids: this worker's random prefix + a counter
        self._uid_seq = itertools.count()
        self._republish_wakeup = asyncio.Event()
        self._republish_empty = asyncio.Event()
        self._republish_empty.set()

    # ---- publishing ---------------------------------------------------------------------------------

    def encode(self, event: str, data: Any) -> str:
        return json.dumps([event, data], separators=(",", ":"), ensure_ascii=False)

    async def publish(
        self,
        event: str,
        data: Any,
        skip_pid: str = "",
        also: PipelineHook | None = None,
        *,
        uid: str = "",
        wait: bool = True,
        abandon: Callable[[], bool] | None = None,
    ) -> None:
        """Send `[event, data]` to every client of every worker but `skip_pid`'s; returns once Redis has it.

        `also` may add commands to the same round trip (e.g. remember the sender's message id). `uid` names the
        entry across publishes: two entries with one uid are delivered once, whichever workers published them
        (a client that resent a message to another worker). `wait=False` tries once (a typing notice is not
        worth waiting for); `abandon()` true stops the retries (the sender went away). Raises
        `durable.Unavailable` (retry later) or `durable.Rejected` (never: e.g. text that cannot be UTF-8, which
        redis-py refuses to encode before anything is sent)."""
        try:
            payload = self.encode(event, data)
        except (TypeError, ValueError) as exc:
            self.stats.rejected += 1
            raise Rejected(f"cannot encode the broadcast: {exc}") from exc
        entry = Entry(uid or f"{self._uid_prefix}{next(self._uid_seq):x}", payload, skip_pid)
        timeout = self.publish_timeout if wait else 0.0
        self.stats.waiting_now += 1
        try:
            await until_durable(
                lambda: self._xadd(entry, also), timeout, on_retry=self._note_retry, abandon=abandon
            )
        except Unavailable:
            self.stats.unavailable_refusals += 1
            raise
        except Rejected as exc:
            self.stats.rejected += 1
            log.error("redis refused a broadcast, dropped: %s", exc)
            raise
        finally:
            self.stats.waiting_now -= 1

    def _note_retry(self, exc: BaseException) -> None:
        self.stats.publish_retries += 1
        if isinstance(exc, Exception):
            self._note_error(exc)

    async def _xadd(self, entry: Entry, also: PipelineHook | None = None) -> None:
        minid = int(self._now() * 1000) - self.window_ms
        fields: dict[Any, Any] = {"p": entry.payload, "s": entry.skip_pid, "u": entry.uid}
        # registered before the XADD: our own reader may read the entry back before the XADD call returns
        entry.published_at = time.monotonic()
        tracked = len(self._unconfirmed) < UNCONFIRMED_LIMIT
        if tracked:
            self._unconfirmed[entry.uid] = entry
        try:
            if also is None:
                await self.client.xadd(self.stream, fields, minid=minid, approximate=True)
            else:
                async with self.client.pipeline(transaction=False) as pipe:
                    pipe.xadd(self.stream, fields, minid=minid, approximate=True)
                    also(pipe)
                    await pipe.execute()
        except BaseException:
            if tracked:
                self._unconfirmed.pop(entry.uid, None)
            raise
        self.stats.published += 1

    async def run_republisher(self) -> None:
        """Publish again, in order, what Redis lost in an outage; until cancelled."""
        while True:
            await self._republish_wakeup.wait()
            while self._republish:
                entry = self._republish[0]
                try:
                    await until_durable(
                        functools.partial(self._xadd, entry), RETRY_FOREVER, on_retry=self._note_retry
                    )
                except Rejected as exc:  # cannot happen for an entry Redis took once; never block the rest
                    log.error("could not republish %s: %s", entry.uid, exc)
                self._republish.popleft()
            self._republish_wakeup.clear()
            self._republish_empty.set()

    async def drain(self, timeout: float) -> bool:
        """Wait until every entry to republish reached Redis; False if `timeout` passed first."""
        try:
            await asyncio.wait_for(self._republish_empty.wait(), max(0.0, timeout))
        except TimeoutError:
            return False
        return True

    # ---- reading and delivering ---------------------------------------------------------------------

    async def start_position(self) -> str:
        """The id to read after: the newest entry now (a fresh worker delivers only what comes next)."""
        newest: Any = await self.reader_client.xrevrange(self.stream, count=1)
        self.reader_ok = True
        return as_text(newest[0][0]) if newest else "0-0"

    async def run_reader(self) -> None:
        """Deliver every entry to local clients, in stream order, until cancelled; survives Redis outages.

        After an outage the reader continues from its last id (what was published meanwhile is read then), and
        this worker publishes again what it had published but never saw come back: a Redis that restarted
        empty lost it. Entries carry a unique id, so one read twice is delivered once."""
        outage_since: float | None = None
        try:
            while True:
                stop_if_cancelled()
                try:
                    if self.last_id is None:
                        self.last_id = await self.start_position()
                    found: Any = await self.reader_client.xread(
                        {self.stream: self.last_id},
                        count=READ_COUNT,
                        block=None if outage_since is not None else READ_BLOCK_MS,
                    )
                    self.reader_ok = True
                    self.stats.since_ok = time.monotonic()
                except Exception as exc:
                    self.reader_ok = False
                    if outage_since is None:
                        outage_since = time.monotonic()
                    self._note_error(exc)
                    await asyncio.sleep(RETRY_SECONDS)
                    await self._check_gap()
                    continue
                read_at = time.monotonic()
                behind = False  # a full batch: more is waiting, read it at once
                for _stream, entries in found or ():
                    behind = behind or len(entries) >= READ_COUNT
                    try:
                        self.deliver([self._entry(entry_id, fields) for entry_id, fields in entries])
                    except Exception:  # one bad entry (written by something else) must not stop the reader
                        log.exception("could not deliver a batch of %d entries", len(entries))
                        if entries:
                            self.last_id = as_text(entries[-1][0])
                if outage_since is not None and not found:  # caught up with the stream after an outage
                    await self._republish_lost(outage_since)
                    outage_since = None
                if found and self.delivery_window > 0 and not behind and outage_since is None:
                    # gather what comes next into one batch (never while catching up: the window would cap the
                    # reader at READ_COUNT entries per window)
                    await asyncio.sleep(max(0.0, read_at + self.delivery_window - time.monotonic()))
        finally:
            self.reader_ok = False

    def _entry(self, entry_id: Any, fields: dict[bytes, bytes]) -> StreamEntry:
        return StreamEntry(
            as_text(entry_id),
            as_text(fields[b"p"]),
            as_text(fields.get(b"s", b"")),
            as_text(fields.get(b"u", b"")),
        )

    async def _republish_lost(self, outage_since: float) -> None:
        lost = [entry for entry in self._unconfirmed.values() if entry.published_at < outage_since]
        if not lost:
            return
        log.warning("republishing %d broadcasts that Redis lost during the outage", len(lost))
        self.stats.republished += len(lost)
        for entry in lost:
            del self._unconfirmed[entry.uid]
            self._republish.append(entry)
        self._republish_empty.clear()
        self._republish_wakeup.set()

    async def _check_gap(self) -> None:
        """After an outage: entries older than the window may have been trimmed past our position."""
        try:
            oldest: Any = await self.client.xrange(self.stream, count=1)
        except Exception:
            return
        if oldest and self.last_id is not None and id_lt(self.last_id, as_text(oldest[0][0]), strict=True):
            self.stats.gaps += 1
            log.error(
                "broadcasts between %s and %s were trimmed before this worker read them", self.last_id, oldest
            )

    def deliver(self, batch: list[StreamEntry]) -> None:
        """A batch of stream entries, each delivered once to every local client (an entry published twice around
        a Redis failure is dropped the second time)."""
        if not batch:
            return
        self.last_id = batch[-1].entry_id
        self.stats.entries_read += len(batch)
        self.stats.batches += 1
        self.delivery.broadcast(
            [
                packet(entry.entry_id, entry.payload, entry.skip_pid)
                for entry in batch
                if self._first_time(entry.uid)
            ]
        )

    def _first_time(self, uid: str) -> bool:
        """False for an entry already delivered (published twice around a Redis failure)."""
        self._unconfirmed.pop(uid, None)
        if not uid:
            return True
        if uid in self._seen:
            self.stats.duplicates_dropped += 1
            return False
        self._seen.add(uid)
        self._seen_order.append(uid)
        if len(self._seen_order) > SEEN_LIMIT:
            self._seen.discard(self._seen_order.popleft())
        return True

    # ---- recovery -----------------------------------------------------------------------------------

    async def missed_since(self, offset: str, pid: str) -> tuple[list[Packet], str] | None:
        """The broadcasts after `offset` for the client `pid` and the id they reach, or None when `offset` is
        outside the kept window (what came right after it may have been trimmed: no full replay can be promised)."""
        oldest: Any = await self.client.xrange(self.stream, count=1)
        if oldest and id_lt(offset, as_text(oldest[0][0]), strict=True):
            return None
        entries: Any = await self.client.xrange(self.stream, min=f"({offset}", max="+")
        missed: list[Packet] = []
        uids: set[str] = set()
        for entry in (self._entry(entry_id, fields) for entry_id, fields in entries):
            if entry.skip_pid != pid and not (entry.uid and entry.uid in uids):
                missed.append(packet(entry.entry_id, entry.payload, entry.skip_pid))
            uids.add(entry.uid)
        return missed, (as_text(entries[-1][0]) if entries else offset)

    def _note_error(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if message != self.stats.last_error:
            log.warning("redis: %s", message)
        self.stats.last_error = message

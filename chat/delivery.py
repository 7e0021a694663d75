"""`Delivery`: who on this worker gets a broadcast, and how it reaches each of them.

It owns this worker's recipients (every connected client), writes each batch of broadcasts once per recipient
(one raw `transport.write` on WebSocket, python-engineio's queue otherwise), cuts off a client that stopped reading
(the rule is `chat.wire.RawSocket.write`'s), and holds back live broadcasts for a client being recovered until the
replay of what it missed is written. `chat.fanout` reads the stream and hands it `Packet`s; `chat.events` adds,
removes, holds and releases recipients, only through the methods here.

A `Packet` carries both forms of one broadcast: the WebSocket frame (written raw) and the Socket.IO packet text
(queued for a long-polling client), each made once, whatever the number of recipients.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chat.engine import ChatServer
from chat.wire import RawSocket, SlowConsumer, text_frame

log = logging.getLogger("chat.delivery")


@dataclass(frozen=True, slots=True)
class Packet:
    """One broadcast: its stream id, its Socket.IO packet text (`2[event, data, "<id>"]`, what python-engineio
    queues), the same as one WebSocket frame (with Engine.IO's message type `4`), and the sender's session."""

    entry_id: str
    text: str
    frame: bytes
    skip_pid: str


def packet(entry_id: str, payload: str, skip_pid: str) -> Packet:
    """The broadcast `payload` (`[event, data]`, JSON) with its stream offset as a last argument."""
    text = f'2{payload[:-1]},"{entry_id}"]'
    return Packet(entry_id, text, text_frame("4" + text), skip_pid)


@dataclass(slots=True)
class Recipient:
    sid: str
    eio_sid: str
    pid: str
    raw: RawSocket | None = None  # set once the client is on WebSocket with nothing older queued


class Delivery:
    def __init__(self, sio: ChatServer) -> None:
        self.sio = sio
        self._recipients: dict[str, Recipient] = {}  # sid -> recipient, every connected client of this worker
        self._held: dict[str, list[Packet]] = {}  # sid -> live broadcasts held back during its recovery
        # sid -> the id a recovery replayed up to, while this worker's reader is still behind it (a worker that
        # was frozen, or lost Redis, recovers clients from the stream's head before its reader gets there)
        self._replayed: dict[str, str] = {}
        self.delivered = 0  # messages written or queued to a client
        self.delivered_raw = 0  # of those, written straight to a WebSocket connection

    # ---- recipients ---------------------------------------------------------------------------------

    def add(self, sid: str, eio_sid: str, pid: str) -> None:
        self._recipients[sid] = Recipient(sid, eio_sid, pid)

    def remove(self, sid: str) -> None:
        self._recipients.pop(sid, None)
        self._held.pop(sid, None)
        self._replayed.pop(sid, None)

    def __len__(self) -> int:
        return len(self._recipients)

    def replaying(self, sid: str) -> bool:
        """True while the reader is behind what `sid`'s recovery replayed (those broadcasts are skipped)."""
        return sid in self._replayed

    # ---- recovery: hold, replay, release --------------------------------------------------------------

    def hold(self, sid: str) -> None:
        """Hold back live broadcasts for `sid` while what it missed is replayed."""
        self._held[sid] = []

    def release(self, sid: str, replayed_up_to: str, last_read: str | None) -> list[Packet]:
        """Stop holding `sid`; return the held broadcasts the replay did not already cover. `last_read`: the id
        the reader has reached (when it is behind the replay, it will read again what the replay wrote)."""
        held = self._held.pop(sid, [])
        if last_read is None or id_lt(last_read, replayed_up_to, strict=True):
            self._replayed[sid] = replayed_up_to
        return [p for p in held if id_lt(replayed_up_to, p.entry_id, strict=True)]

    async def catch_up(
        self, sid: str, replay: list[Packet], replayed_up_to: str, last_read: str | None
    ) -> None:
        """Write a recovered client what it missed, then release what was held back meanwhile."""
        recipient = self._recipients.get(sid)
        if recipient is None:
            return
        for missed in replay:
            await self.send(recipient.eio_sid, missed)
        for held in self.release(sid, replayed_up_to, last_read):
            await self.send(recipient.eio_sid, held)

    async def send(self, eio_sid: str, broadcast: Packet) -> None:
        """One broadcast to one client: written raw if it is on WebSocket, else queued."""
        if not self.sio.write_frame(eio_sid, broadcast.frame):
            await self.sio.eio.send(eio_sid, broadcast.text)

    # ---- live broadcasts -------------------------------------------------------------------------------

    def broadcast(self, packets: list[Packet]) -> None:
        """A batch of broadcasts, in stream order, to every recipient but each one's sender.

        The batch's frames are joined once and each recipient gets them in ONE write: under load an XREAD
        returns many entries, and the cost per delivered message falls with the batch size."""
        if not packets:
            return
        everything = b"".join(p.frame for p in packets) if len(packets) > 1 else packets[0].frame
        senders = {p.skip_pid for p in packets}
        held, replayed = self._held, self._replayed
        queued: list[tuple[Recipient, list[Packet]]] = []
        slow: list[tuple[RawSocket, str]] = []
        delivered = 0
        for recipient in self._recipients.values():
            if held and recipient.sid in held:
                held[recipient.sid].extend(p for p in packets if p.skip_pid != recipient.pid)
                continue
            mine = packets
            if replayed and recipient.sid in replayed:
                mine = self._beyond_replay(recipient.sid, packets)
                blob = b"".join(p.frame for p in mine if p.skip_pid != recipient.pid)
                if not blob:
                    continue
            elif recipient.pid in senders:
                blob = b"".join(p.frame for p in packets if p.skip_pid != recipient.pid)
                if not blob:
                    continue
            else:
                blob = everything
            raw = recipient.raw
            if raw is None:
                raw = recipient.raw = self.sio.raw_socket(recipient.eio_sid)
                if raw is None:
                    queued.append((recipient, mine))
                    continue
            try:
                if raw.write(blob):
                    delivered += 1
            except SlowConsumer as exc:
                delivered += 1
                slow.append((raw, str(exc)))
        self.delivered += delivered * len(packets)
        self.delivered_raw += delivered * len(packets)
        for raw, why in slow:
            self.sio.cut_off(raw, why)
        if queued:
            self.sio.eio.spawn(self._queue(queued), "delivery-queue")

    def _beyond_replay(self, sid: str, packets: list[Packet]) -> list[Packet]:
        """The broadcasts of a batch that the replay of `sid`'s recovery did not already write to it."""
        mark = self._replayed[sid]
        if id_lt(mark, packets[-1].entry_id, strict=False):
            del self._replayed[sid]  # the reader has caught up with the replay
        return [p for p in packets if id_lt(mark, p.entry_id, strict=True)]

    async def _queue(self, queued: list[tuple[Recipient, list[Packet]]]) -> None:
        """Clients not on the raw path (long-polling, upgrading) get the packet text through python-engineio."""
        for recipient, packets in queued:
            for broadcast in packets:
                if broadcast.skip_pid == recipient.pid:
                    continue
                try:
                    await self.sio.eio.send(recipient.eio_sid, broadcast.text)
                except Exception as exc:  # the client went away meanwhile
                    log.debug("could not queue for %s: %s", recipient.eio_sid, exc)
                    break
                self.delivered += 1


def id_lt(a: str, b: str, *, strict: bool) -> bool:
    """Stream id order: a < b (or <= when not strict)."""
    ams, _, aseq = a.partition("-")
    bms, _, bseq = b.partition("-")
    left, right = (int(ams), int(aseq or 0)), (int(bms), int(bseq or 0))
    return left < right if strict else left <= right

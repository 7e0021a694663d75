"""The ledger of one chaos run, and its arithmetic: sent, acked, delivered, lost, duplicated, out of order.

Pure bookkeeping (no I/O, no clock of its own: every entry carries the time it happened). What counts as what is
what the chat promises its users (README, "Guarantees and limits"):

- a message is *acked* when its sender got `{"ok": true}` (with `"duplicate": true` too: the server had it);
  *refused* on a final `{"ok": false}` without `"retry"`; *unacked* when the run ended before either. Only acked
  messages can be lost: a sender whose message was refused or never acked knows it was not delivered;
- a receiver *owes* an acked message when one unbroken session of that receiver covered it: the session began
  (login) before the message was first sent, and either lasted to the end of the run or, if it broke, delivered
  that message or something the stream holds after it (a message first sent after its ack: an ack means the
  message is in the stream, and every receiver gets the stream in its order). A session stays unbroken across
  reconnections that recovered it (connection-state recovery); a reconnection that got a fresh session breaks
  it, and what the receiver missed around the break is not owed: the chat promises nothing there (a fresh
  session starts from the stream's newest entry). No timing guess is involved;
- *delivered*: every receiver that owes it got it exactly once; *lost*: acked, and some receiver that owes it never
  got it; *duplicated*: some receiver got it more than once (acked or not: a duplicate is a duplicate);
- *out of order*: a receiver got a sender's message after a later one of the same sender. Senders send one
  message at a time, the next only after the previous one was acked (or refused), so the stream holds each
  sender's messages in order and every receiver must see them in that order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

TEXT_PREFIX = "chaos:"
MAX_LOST_SAMPLES = 5


@dataclass
class Sent:
    """One message a sender created: its attempts and their outcome."""

    message_id: str
    sender: str
    seq: int
    text: str
    first_sent_at: float | None = None
    attempts: int = 0
    acked_at: float | None = None
    duplicate_ack: bool = False
    refused: str | None = None
    retry_refusals: int = 0


@dataclass
class Session:
    """A receiver's unbroken session: when it began, whether it lasts, the latest first-send time it delivered."""

    start: float
    broken: bool = False  # its connection ended and no recovered reconnection took it up (yet)
    latest_delivered: float = float("-inf")  # the latest `first_sent_at` among the messages it delivered
    delivered: set[str] = field(default_factory=set)


@dataclass
class Receiver:
    """What one receiver got, in order, and when its session was unbroken."""

    name: str
    sessions: list[Session] = field(default_factory=list)
    receipts: list[str] = field(default_factory=list)  # message ids, in arrival order

    def session_started(self, at: float, recovered: bool) -> None:
        if recovered and self.sessions:
            self.sessions[-1].broken = False  # the same session goes on
        else:
            self.sessions.append(Session(start=at))

    def connection_lost(self) -> None:
        """The connection ended: the session is broken unless the next connection recovers it."""
        if self.sessions:
            self.sessions[-1].broken = True

    def delivered(self, message: Sent) -> None:
        self.receipts.append(message.message_id)
        # between a lost connection and the next session (a fresh one logs in first) a delivery is no session's
        # evidence: it came on the new connection, before the session it belongs to was recorded
        if self.sessions and not self.sessions[-1].broken:
            session = self.sessions[-1]
            session.delivered.add(message.message_id)
            if message.first_sent_at is not None:
                session.latest_delivered = max(session.latest_delivered, message.first_sent_at)

    def owes(self, message: Sent) -> bool:
        if message.acked_at is None or message.first_sent_at is None:
            return False
        covering = [s for s in self.sessions if s.start <= message.first_sent_at]
        if not covering:
            return False
        session = covering[-1]
        return (
            not session.broken
            or session.latest_delivered > message.acked_at
            or message.message_id in session.delivered
        )


@dataclass(frozen=True)
class LostMessage:
    message_id: str
    sender: str
    acked_at: float
    missing_at: tuple[str, ...]  # the receivers that owed it and never got it


@dataclass(frozen=True)
class Tally:
    sent: int  # messages created (each counted once, however often it was sent)
    attempts: int  # sends on the wire, resends included
    resends: int  # sends on the wire after a message's first
    acked: int
    duplicate_acks: int  # acked with "duplicate": true (the server already had it)
    refused: int  # final refusals
    retry_refusals: int  # `{"ok": false, "retry": true}` answers (each resent)
    unacked: int  # neither acked nor refused by the end of the run
    delivered_unacked: int  # refused or unacked, and yet some receiver got it (the sender was told otherwise)
    delivered: int  # acked, and every receiver that owed it got it exactly once
    lost: int  # acked, and some receiver that owed it never got it
    duplicated: int  # messages some receiver got more than once
    extra_copies: int  # deliveries beyond the first, over all receivers
    out_of_order: int  # deliveries that came after a later message of the same sender
    owed: int  # (message, receiver) pairs owed
    received: int  # deliveries of this run's messages, duplicates included
    not_owed: int  # (acked message, receiver) pairs not owed: around a break in the receiver's session
    foreign: int  # chat messages that are not this run's
    lost_samples: tuple[LostMessage, ...] = ()
    refusal_samples: tuple[str, ...] = ()  # the servers' words for the first final refusals
    duplicate_samples: tuple[str, ...] = ()  # the first duplicated messages, and who got them how often

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in ("lost_samples", "refusal_samples", "duplicate_samples")
        }
        out["refusal_samples"] = list(self.refusal_samples)
        out["duplicate_samples"] = list(self.duplicate_samples)
        out["lost_samples"] = [
            {
                "id": m.message_id,
                "sender": m.sender,
                "acked_at": round(m.acked_at, 3),
                "missing_at": list(m.missing_at),
            }
            for m in self.lost_samples
        ]
        return out


class Ledger:
    """Everything the senders and receivers of one run did; `tally()` does the arithmetic."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.messages: dict[str, Sent] = {}
        self.receivers: dict[str, Receiver] = {}
        self.foreign = 0

    # ---- senders ------------------------------------------------------------------------------------

    def new_message(self, sender: str, seq: int) -> Sent:
        message_id = f"{self.run}.{sender}.{seq}"
        sent = Sent(message_id, sender, seq, f"{TEXT_PREFIX}{self.run}:{sender}:{seq}")
        self.messages[message_id] = sent
        return sent

    def attempt(self, message_id: str, at: float) -> None:
        sent = self.messages[message_id]
        sent.attempts += 1
        if sent.first_sent_at is None:
            sent.first_sent_at = at

    def acked(self, message_id: str, at: float, *, duplicate: bool = False) -> None:
        sent = self.messages[message_id]
        if sent.acked_at is None:
            sent.acked_at = at
        sent.duplicate_ack = sent.duplicate_ack or duplicate

    def refused(self, message_id: str, reason: str) -> None:
        self.messages[message_id].refused = reason

    def retry_refused(self, message_id: str) -> None:
        self.messages[message_id].retry_refusals += 1

    # ---- receivers ----------------------------------------------------------------------------------

    def receiver(self, name: str) -> Receiver:
        return self.receivers.setdefault(name, Receiver(name))

    def received(self, receiver: str, text: str) -> None:
        message_id = self.message_id(text)
        if message_id is None or message_id not in self.messages:
            self.foreign += 1
            return
        self.receiver(receiver).delivered(self.messages[message_id])

    def message_id(self, text: str) -> str | None:
        """The id of this run's message with `text`, or None for anyone else's text."""
        if not text.startswith(TEXT_PREFIX):
            return None
        parts = text[len(TEXT_PREFIX) :].split(":")
        if len(parts) != 3 or parts[0] != self.run:
            return None
        return f"{parts[0]}.{parts[1]}.{parts[2]}"

    # ---- arithmetic ---------------------------------------------------------------------------------

    def tally(self, origin: float = 0.0) -> Tally:
        """The arithmetic, once the run is over; the lost samples' ack times are given since `origin`."""
        messages = list(self.messages.values())
        acked = [m for m in messages if m.acked_at is not None]
        counts = {name: Counter(r.receipts) for name, r in self.receivers.items()}
        duplicated: set[str] = set()
        extra = 0
        for counter in counts.values():
            for message_id, n in counter.items():
                if n > 1:
                    duplicated.add(message_id)
                    extra += n - 1
        delivered = owed_pairs = not_owed = 0
        lost: list[LostMessage] = []
        for message in acked:
            missing, exactly_once = [], True
            for name, receiver in self.receivers.items():
                if name == message.sender:
                    continue
                if not receiver.owes(message):
                    not_owed += 1
                    continue
                owed_pairs += 1
                n = counts[name][message.message_id]
                if n == 0:
                    missing.append(name)
                exactly_once = exactly_once and n == 1
            if missing:
                assert message.acked_at is not None
                acked_at = message.acked_at - origin
                lost.append(LostMessage(message.message_id, message.sender, acked_at, tuple(missing)))
            elif exactly_once:
                delivered += 1
        return Tally(
            sent=len(messages),
            attempts=sum(m.attempts for m in messages),
            resends=sum(max(0, m.attempts - 1) for m in messages),
            acked=len(acked),
            duplicate_acks=sum(m.duplicate_ack for m in acked),
            refused=sum(m.refused is not None and m.acked_at is None for m in messages),
            retry_refusals=sum(m.retry_refusals for m in messages),
            unacked=sum(m.acked_at is None and m.refused is None for m in messages),
            delivered_unacked=sum(
                m.acked_at is None and any(c[m.message_id] for c in counts.values()) for m in messages
            ),
            delivered=delivered,
            lost=len(lost),
            duplicated=len(duplicated),
            extra_copies=extra,
            out_of_order=sum(self._out_of_order(r) for r in self.receivers.values()),
            owed=owed_pairs,
            received=sum(len(r.receipts) for r in self.receivers.values()),
            not_owed=not_owed,
            foreign=self.foreign,
            lost_samples=tuple(sorted(lost, key=lambda m: m.acked_at)[:MAX_LOST_SAMPLES]),
            duplicate_samples=self._duplicate_samples(counts, duplicated),
            refusal_samples=tuple(
                f"{m.message_id}: {m.refused}"
                for m in messages
                if m.refused is not None and m.acked_at is None
            )[:MAX_LOST_SAMPLES],
        )

    def _duplicate_samples(self, counts: dict[str, Counter[str]], duplicated: set[str]) -> tuple[str, ...]:
        first = sorted(duplicated, key=lambda i: (self.messages[i].first_sent_at or 0.0, i))[
            :MAX_LOST_SAMPLES
        ]
        return tuple(
            f"{i}: " + ", ".join(f"{name} x{c[i]}" for name, c in sorted(counts.items()) if c[i] > 1)
            for i in first
        )

    def _out_of_order(self, receiver: Receiver) -> int:
        highest: dict[str, int] = {}
        seen: set[str] = set()
        late = 0
        for message_id in receiver.receipts:
            if message_id in seen:
                continue  # a duplicate, counted as such
            seen.add(message_id)
            message = self.messages[message_id]
            top = highest.get(message.sender, -1)
            if message.seq < top:
                late += 1
            else:
                highest[message.sender] = message.seq
        return late

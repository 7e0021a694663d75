"""Reading the stream (chat/fanout.py): each entry delivered once, with its offset, to the worker's Delivery."""

from __future__ import annotations

from typing import Any

from chat.delivery import Packet
from chat.fanout import Fanout


class Delivery:
    """What Fanout hands its batches to."""

    def __init__(self) -> None:
        self.batches: list[list[Packet]] = []

    def broadcast(self, packets: list[Packet]) -> None:
        self.batches.append(packets)


def entry(n: int, text: str) -> tuple[str, str, str, str]:
    return (f"{n}-0", f'["new message",{{"username":"s","message":"{text}"}}]', "sender-pid", f"u{n}")


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
    twice: Any = entry(7, "again")
    out.deliver([twice])
    out.deliver([("8-0", twice[1], twice[2], twice[3])])  # the same unique id, a second stream entry
    assert [len(batch) for batch in delivery.batches] == [1, 0]
    assert out.stats.duplicates_dropped == 1 and out.last_id == "8-0"

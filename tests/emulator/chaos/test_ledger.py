"""The ledger's arithmetic: what counts as delivered, lost, duplicated, out of order, owed or not owed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from emulator.chaos.ledger import Ledger, Sent


def send(
    ledger: Ledger, sender: str, seq: int, at: float, *, acked: bool = True, duplicate: bool = False
) -> Sent:
    message = ledger.new_message(sender, seq)
    ledger.attempt(message.message_id, at)
    if acked:
        ledger.acked(message.message_id, at + 0.01, duplicate=duplicate)
    return message


def logged_in(ledger: Ledger, *names: str, at: float = 0.0) -> None:
    for name in names:
        ledger.receiver(name).session_started(at, recovered=False)


def test_every_receiver_but_the_sender_owes_an_acked_message() -> None:
    ledger = Ledger("r1")
    logged_in(ledger, "s0", "a", "b")
    m = send(ledger, "s0", 0, at=1.0)
    ledger.received("a", m.text)
    ledger.received("b", m.text)
    t = ledger.tally()
    assert (t.sent, t.acked, t.delivered, t.lost, t.owed, t.received) == (1, 1, 1, 0, 2, 2)


def test_an_acked_message_a_receiver_never_got_is_lost_and_named() -> None:
    ledger = Ledger("r1")
    logged_in(ledger, "s0", "a", "b")
    m = send(ledger, "s0", 0, at=1.0)
    ledger.received("a", m.text)
    t = ledger.tally(origin=0.5)
    assert (t.delivered, t.lost) == (0, 1)
    [lost] = t.lost_samples
    assert lost.message_id == m.message_id and lost.missing_at == ("b",)
    assert abs(lost.acked_at - 0.51) < 1e-9  # since the origin


def test_refused_and_unacked_messages_are_never_lost() -> None:
    ledger = Ledger("r1")
    logged_in(ledger, "s0", "a")
    refused = send(ledger, "s0", 0, at=1.0, acked=False)
    ledger.refused(refused.message_id, "too long")
    unacked = send(ledger, "s0", 1, at=2.0, acked=False)  # the run ended before its ack
    ledger.received("a", unacked.text)
    t = ledger.tally()
    assert (t.sent, t.acked, t.refused, t.unacked, t.lost, t.delivered) == (2, 0, 1, 1, 0, 0)
    assert t.delivered_unacked == 1
    assert t.refusal_samples == (f"{refused.message_id}: too long",)


def test_a_duplicate_ack_is_an_ack_and_resends_are_attempts() -> None:
    ledger = Ledger("r1")
    logged_in(ledger, "s0", "a")
    m = send(ledger, "s0", 0, at=1.0)
    ledger.attempt(m.message_id, 3.0)
    ledger.retry_refused(m.message_id)
    ledger.acked(m.message_id, 3.1, duplicate=True)
    ledger.received("a", m.text)
    t = ledger.tally()
    assert (t.acked, t.duplicate_acks, t.attempts, t.retry_refusals, t.delivered) == (1, 1, 2, 1, 1)
    assert m.acked_at == 1.01  # the first ack is when it was acked


def test_a_message_received_twice_is_duplicated_not_delivered() -> None:
    ledger = Ledger("r1")
    logged_in(ledger, "s0", "a", "b")
    m = send(ledger, "s0", 0, at=1.0)
    for receiver in ("a", "a", "a", "b"):
        ledger.received(receiver, m.text)
    t = ledger.tally()
    assert (t.delivered, t.lost, t.duplicated, t.extra_copies) == (0, 0, 1, 2)
    assert t.duplicate_samples == (f"{m.message_id}: a x3",)


def test_a_later_message_before_an_earlier_one_of_the_same_sender_is_out_of_order() -> None:
    ledger = Ledger("r1")
    logged_in(ledger, "a")
    m0, m1, m2 = (send(ledger, "s0", i, at=1.0 + i) for i in range(3))
    other = send(ledger, "s1", 0, at=1.5)
    for m in (m0, m2, other, m1, m2):  # m1 after m2; the second m2 is a duplicate, not disorder
        ledger.received("a", m.text)
    t = ledger.tally()
    assert (t.out_of_order, t.duplicated, t.lost) == (1, 1, 0)


def test_a_recovered_session_owes_everything_including_what_was_sent_while_away() -> None:
    ledger = Ledger("r1")
    logged_in(ledger, "s0", "a")
    a = ledger.receiver("a")
    a.connection_lost()
    m = send(ledger, "s0", 0, at=2.0)  # while "a" was away
    a.session_started(3.0, recovered=True)
    t = ledger.tally()
    assert (t.owed, t.lost, t.not_owed) == (1, 1, 0)
    assert t.lost_samples[0].message_id == m.message_id


def test_around_a_fresh_session_only_what_the_broken_session_should_have_had_is_owed() -> None:
    ledger = Ledger("r1")
    logged_in(ledger, "s0", "a")
    a = ledger.receiver("a")
    before = send(ledger, "s0", 0, at=1.0)  # acked at 1.01
    evidence = send(ledger, "s0", 1, at=2.0)  # first sent after `before` was acked: the stream has it later
    ledger.received("a", evidence.text)
    unseen = send(ledger, "s0", 2, at=3.0)  # acked, but "a" got nothing sent after it before the break
    a.connection_lost()
    during = send(ledger, "s0", 3, at=4.0)  # between the sessions
    a.session_started(5.0, recovered=False)  # a fresh session: the chat promises nothing around the break
    after = send(ledger, "s0", 4, at=6.0)
    ledger.received("a", after.text)
    t = ledger.tally()
    assert t.lost == 1 and [m.message_id for m in t.lost_samples] == [before.message_id]
    assert (t.owed, t.not_owed) == (3, 2)  # before, evidence, after owed; unseen and during not
    assert unseen.acked_at is not None and during.acked_at is not None


def test_a_receiver_that_never_came_back_owes_only_what_its_session_should_have_had() -> None:
    ledger = Ledger("r1")
    logged_in(ledger, "s0", "a")
    first, second = send(ledger, "s0", 0, at=1.0), send(ledger, "s0", 1, at=2.0)
    ledger.received("a", second.text)
    ledger.receiver("a").connection_lost()
    send(ledger, "s0", 2, at=3.0)
    t = ledger.tally()
    assert t.lost == 1 and t.lost_samples[0].message_id == first.message_id
    assert (t.owed, t.not_owed) == (2, 1)


def test_texts_of_other_runs_and_people_are_foreign() -> None:
    ledger = Ledger("r1")
    logged_in(ledger, "a")
    other = Ledger("r2").new_message("s0", 0)
    for text in ("hello", other.text, "chaos:r1:s0:9", "chaos:r1:s0"):
        ledger.received("a", text)
    assert ledger.tally().foreign == 4
    assert ledger.message_id(other.text) is None


@given(
    st.lists(st.tuples(st.integers(0, 2), st.booleans()), max_size=30),
    st.lists(st.integers(0, 29), max_size=60),
)
def test_acked_messages_are_delivered_lost_or_duplicated(
    sends: list[tuple[int, bool]], got: list[int]
) -> None:
    """Every acked message is exactly one of delivered / lost / duplicated-but-not-lost; nothing else is lost."""
    ledger = Ledger("p")
    logged_in(ledger, "a")
    messages = [
        send(ledger, f"s{sender}", i, at=1.0 + i, acked=acked) for i, (sender, acked) in enumerate(sends)
    ]
    for index in got:
        if index < len(messages):
            ledger.received("a", messages[index].text)
    t = ledger.tally()
    counts = {m.message_id: 0 for m in messages}
    for index in got:
        if index < len(messages):
            counts[messages[index].message_id] += 1
    acked = [m for m in messages if m.acked_at is not None]
    assert t.acked == len(acked)
    assert t.lost == sum(counts[m.message_id] == 0 for m in acked)
    assert t.delivered + t.lost + sum(counts[m.message_id] > 1 for m in acked) == t.acked
    assert t.extra_copies == sum(max(0, n - 1) for n in counts.values())


def test_a_delivery_between_sessions_is_no_evidence_for_the_broken_one() -> None:
    """A message that arrives on the new connection before its fresh session is recorded (the login's ack and a
    broadcast can arrive together) does not make the broken session owe what came before it."""
    ledger = Ledger("r1")
    logged_in(ledger, "a")
    a = ledger.receiver("a")
    unseen = send(ledger, "s0", 0, at=1.0)
    a.connection_lost()
    early = send(ledger, "s0", 1, at=2.0)
    ledger.received("a", early.text)  # on the new connection, just before:
    a.session_started(2.5, recovered=False)
    t = ledger.tally()
    assert (t.lost, t.not_owed) == (0, 2)
    assert unseen.acked_at is not None

"""Engine.IO / Socket.IO packets as our server sends them, and the load generator's message text."""

from __future__ import annotations

import pytest

from emulator.loadgen import protocol as p


def test_open_packet() -> None:
    h = p.parse_open(
        '0{"sid":"abc","upgrades":["websocket"],"pingInterval":4000,"pingTimeout":8000,"maxPayload":1}'
    )
    assert h == p.Handshake(sid="abc", upgrades=("websocket",), ping_interval_ms=4000, ping_timeout_ms=8000)
    with pytest.raises(p.ProtocolError):
        p.parse_open("40")
    with pytest.raises(p.ProtocolError):
        p.parse_open("0{not json")


def test_event_encoding_and_names() -> None:
    packet = p.event("add user", "load1")
    assert packet == '42["add user","load1"]'
    assert p.event_name(packet) == "add user"
    assert p.event_args('42["login",{"numUsers":3},"1-0"]') == [{"numUsers": 3}, "1-0"]
    assert p.event_name("3") is None


def test_a_broadcast_yields_sender_sequence_and_send_time() -> None:
    text = p.mark("r1", sender=7, seq=42, sent_us=123456789, padding="xxxx")
    packet = p.event("new message", {"username": "load7", "message": text}, "1700000000000-3")
    assert packet.startswith(p.NEW_MESSAGE_PREFIX)
    found = p.message_text(packet)
    assert found is not None and found.startswith("lg:r1:7:42:123456789:")
    assert p.parse_mark(found, "r1") == (7, 42, 123456789)


def test_text_of_another_run_or_a_person_is_not_counted() -> None:
    other = p.event("new message", {"username": "x", "message": p.mark("r2", 1, 1, 1)})
    found = p.message_text(other)
    assert found is not None and p.parse_mark(found, "r1") is None
    assert p.message_text(p.event("new message", {"username": "x", "message": "hello"})) is None
    assert p.parse_mark("lg:r1:seven:1:1:", "r1") is None


def test_polling_payload_splits_on_record_separator() -> None:
    assert p.split_payload("40{}\x1e2\x1e") == ["40{}", "2"]

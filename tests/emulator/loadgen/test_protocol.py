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


def test_events_with_an_ack_id_and_the_ack_that_answers_them() -> None:
    packet = p.event_with_ack(12, "new message", "hi", {"id": "m-1"})
    assert packet == '4212["new message","hi",{"id":"m-1"}]'
    assert p.event_data(packet) == ["new message", "hi", {"id": "m-1"}]
    assert p.parse_ack('4312[{"ok":true,"duplicate":true}]') == (12, [{"ok": True, "duplicate": True}])
    assert p.parse_ack('42["login",{}]') is None
    assert p.parse_ack("43[{}]") is None  # an ack without an id is not an ack
    with pytest.raises(p.ProtocolError):
        p.parse_ack("437[not json")


def test_event_data_keeps_the_name_and_the_trailing_offset() -> None:
    assert p.event_data('42["new message",{"username":"a","message":"x"},"17-0"]') == [
        "new message",
        {"username": "a", "message": "x"},
        "17-0",
    ]
    for bad in ('42x["a"]', "42[]", "42[1]", "43[{}]"):
        with pytest.raises(p.ProtocolError):
            p.event_data(bad)


def test_connect_with_recovery_auth_and_its_answers() -> None:
    assert p.connect() == "40"
    assert p.connect({"pid": "P", "offset": "17-0"}) == '40{"pid":"P","offset":"17-0"}'
    assert p.parse_connect('40{"sid":"s","pid":"P"}') == {"sid": "s", "pid": "P"}
    with pytest.raises(p.ConnectRefused, match="shutting down"):
        p.parse_connect('44{"message":"server is shutting down: reconnect"}')
    with pytest.raises(p.ProtocolError):
        p.parse_connect('42["login"]')

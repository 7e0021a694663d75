"""Delivery from the stream to local clients (chat/fanout.py), with the server's sockets stood in for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chat.fanout import Fanout, Recipient
from chat.wire import RawSocket


@dataclass
class Transport:
    written: list[bytes] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


class Server:
    """What Fanout asks of ChatServer: each client's raw WebSocket writer, and the slow-client limit."""

    max_unsent_bytes = 1 << 20

    def __init__(self) -> None:
        self.transports: dict[str, Transport] = {}

    def raw_socket(self, eio_sid: str) -> RawSocket:
        transport = self.transports.setdefault(eio_sid, Transport())
        return RawSocket(None, transport, self.max_unsent_bytes)  # type: ignore[arg-type]


def entry(n: int, text: str) -> tuple[str, str, str, str]:
    return (f"{n}-0", f'["new message",{{"username":"s","message":"{text}"}}]', "sender-pid", f"u{n}")


def received(server: Server, eio_sid: str) -> str:
    return b"".join(server.transports[eio_sid].written).decode(errors="replace")


def fanout(server: Server) -> Fanout:
    out = Fanout(server, client=None, key_prefix="t", window_seconds=60, publish_timeout=1)  # type: ignore[arg-type]
    out.local["r1"] = Recipient("r1", "e1", "pid-1")
    out.local["r2"] = Recipient("r2", "e2", "pid-2")
    return out


def test_a_client_recovered_ahead_of_the_reader_gets_nothing_twice() -> None:
    """A worker whose reader is behind (it was frozen, or lost Redis) recovers a client by replaying up to the
    stream's head; when its reader then reads those entries, that client must not get them again."""
    server = Server()
    out = fanout(server)
    out.last_id = "1-0"
    out.hold("r1")
    assert out.release("r1", "3-0") == []  # the replay (written by the CONNECT answer) reached 3-0
    out.deliver([entry(2, "two"), entry(3, "three"), entry(4, "four")])
    assert "two" not in received(server, "e1") and "three" not in received(server, "e1")
    assert "four" in received(server, "e1")
    assert all(word in received(server, "e2") for word in ("two", "three", "four"))  # others get everything
    out.deliver([entry(5, "five")])
    assert "five" in received(server, "e1")
    assert out.replayed == {}  # caught up: the common path again


def test_a_client_recovered_behind_the_reader_is_not_filtered() -> None:
    server = Server()
    out = fanout(server)
    out.last_id = "9-0"
    out.hold("r1")
    out.release("r1", "5-0")
    assert out.replayed == {}
    out.deliver([entry(10, "ten")])
    assert "ten" in received(server, "e1")


def test_an_entry_published_twice_is_delivered_once() -> None:
    server = Server()
    out = fanout(server)
    twice: Any = entry(7, "again")
    out.deliver([twice])
    out.deliver([("8-0", twice[1], twice[2], twice[3])])  # the same unique id, a second stream entry
    assert received(server, "e2").count("again") == 1

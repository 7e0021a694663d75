"""Who gets a broadcast on this worker, and how (chat/delivery.py), with the server's sockets stood in for."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from chat.delivery import Delivery, Packet, packet
from chat.wire import RawSocket


@dataclass
class Transport:
    written: list[bytes] = field(default_factory=list)
    waiting: int = 0  # bytes the client has not read
    closing: bool = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.waiting


class Engine:
    """python-engineio's queue, for clients not on the raw path."""

    def __init__(self) -> None:
        self.queued: dict[str, list[str]] = {}
        self.tasks: list[asyncio.Task[Any]] = []

    async def send(self, eio_sid: str, text: str) -> None:
        self.queued.setdefault(eio_sid, []).append(text)

    def spawn(self, coro: Any, name: str) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(coro, name=name))


class Server:
    """What Delivery asks of ChatServer: each client's raw writer (None: long-polling), the cut-off, the queue."""

    max_unsent_bytes = 1 << 20

    def __init__(self, polling: tuple[str, ...] = ()) -> None:
        self.transports: dict[str, Transport] = {}
        self.polling = polling
        self.cut: list[str] = []
        self.eio = Engine()

    def raw_socket(self, eio_sid: str) -> RawSocket | None:
        if eio_sid in self.polling:
            return None
        transport = self.transports.setdefault(eio_sid, Transport())
        return RawSocket(eio_sid, transport, self.max_unsent_bytes)  # type: ignore[arg-type]

    def write_frame(self, eio_sid: str, frame: bytes) -> bool:
        raw = self.raw_socket(eio_sid)
        if raw is None:
            return False
        raw.write(frame)
        return True

    def cut_off(self, raw: RawSocket, reason: str) -> None:
        self.cut.append(raw.eio_socket)


def broadcast(n: int, text: str, sender: str = "sender-pid") -> Packet:
    return packet(f"{n}-0", f'["new message",{{"username":"s","message":"{text}"}}]', sender)


def received(server: Server, eio_sid: str) -> str:
    transport = server.transports.get(eio_sid)
    return b"".join(transport.written if transport else ()).decode(errors="replace")


def delivery(server: Server) -> Delivery:
    out = Delivery(server)  # type: ignore[arg-type]
    out.add("r1", "e1", "pid-1")
    out.add("r2", "e2", "pid-2")
    return out


def test_a_packet_is_the_socketio_text_and_its_websocket_frame() -> None:
    one = broadcast(5, "hi")
    assert one.text == '2["new message",{"username":"s","message":"hi"},"5-0"]'
    assert one.frame == bytes((0x81, len(one.text) + 1)) + b"4" + one.text.encode()


def test_a_batch_is_one_write_per_recipient_without_the_senders_own() -> None:
    server = Server()
    out = delivery(server)
    out.broadcast([broadcast(1, "one"), broadcast(2, "two", sender="pid-1")])
    assert len(server.transports["e2"].written) == 1 and "two" in received(server, "e2")
    assert "one" in received(server, "e1") and "two" not in received(server, "e1")
    assert out.delivered == out.delivered_raw == 4  # counted per recipient and message, as before


def test_a_client_that_stopped_reading_is_cut_off_once_its_buffer_passes_the_limit() -> None:
    server = Server()
    out = delivery(server)
    out.broadcast([broadcast(1, "one")])
    server.transports["e1"].waiting = server.max_unsent_bytes + 1
    out.broadcast([broadcast(2, "two")])
    assert server.cut == ["e1"]
    server.transports["e1"].closing = True  # the close frame is on its way
    out.broadcast([broadcast(3, "three")])
    assert "three" not in received(server, "e1") and "three" in received(server, "e2")


async def test_a_long_polling_client_gets_the_packet_text_queued() -> None:
    server = Server(polling=("e2",))
    out = delivery(server)
    out.broadcast([broadcast(1, "one"), broadcast(2, "two", sender="pid-2")])
    await asyncio.gather(*server.eio.tasks)
    assert server.eio.queued["e2"] == [broadcast(1, "one").text]
    assert out.delivered_raw == 2 and out.delivered == 3


async def test_a_recovered_client_gets_the_replay_then_what_was_held_and_nothing_twice() -> None:
    server = Server()
    out = delivery(server)
    out.hold("r1")
    out.broadcast([broadcast(3, "three"), broadcast(4, "four")])  # live, while r1's replay is read
    assert "four" not in received(server, "e1")
    await out.catch_up("r1", [broadcast(2, "two"), broadcast(3, "three")], "3-0", last_read="4-0")
    assert [word for word in ("two", "three", "four") if word in received(server, "e1")] == [
        "two",
        "three",
        "four",
    ]
    assert received(server, "e1").count("three") == 1


def test_a_client_recovered_ahead_of_the_reader_gets_nothing_twice() -> None:
    """A worker whose reader is behind (it was frozen, or lost Redis) recovers a client by replaying up to the
    stream's head; when its reader then reads those entries, that client must not get them again."""
    server = Server()
    out = delivery(server)
    out.hold("r1")
    assert out.release("r1", "3-0", last_read="1-0") == []  # the replay (written by catch_up) reached 3-0
    out.broadcast([broadcast(2, "two"), broadcast(3, "three"), broadcast(4, "four")])
    assert "two" not in received(server, "e1") and "three" not in received(server, "e1")
    assert "four" in received(server, "e1")
    assert all(word in received(server, "e2") for word in ("two", "three", "four"))  # others get everything
    out.broadcast([broadcast(5, "five")])
    assert "five" in received(server, "e1")
    assert not out.replaying("r1")  # caught up: the common path again


def test_a_client_recovered_behind_the_reader_is_not_filtered() -> None:
    server = Server()
    out = delivery(server)
    out.hold("r1")
    out.release("r1", "5-0", last_read="9-0")
    assert not out.replaying("r1")
    out.broadcast([broadcast(10, "ten")])
    assert "ten" in received(server, "e1")


def test_a_removed_client_gets_nothing_and_leaves_nothing_behind() -> None:
    server = Server()
    out = delivery(server)
    out.hold("r1")
    out.remove("r1")
    out.broadcast([broadcast(1, "one")])
    assert "e1" not in server.transports and len(out) == 1

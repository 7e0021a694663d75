"""Engine.IO v4 / Socket.IO v5 text packets, encoded and decoded as cheaply as the hot path allows.

Only what a chat client needs: the Engine.IO open packet, pings, the Socket.IO connect (with an auth payload,
for connection-state recovery) and its answer, events with and without an ack id, acks, and the load
generator's own message text (`mark` / `parse_mark`): `lg:<run>:<sender>:<seq>:<sent_us>:<padding>`.
The load generator's receive path never runs `json.loads` on a broadcast: it finds the message text by position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

EIO_PATH = "/socket.io/"
RECORD_SEPARATOR = "\x1e"  # between Engine.IO packets in one long-polling payload

# Engine.IO packet types (first character)
OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = "0", "1", "2", "3", "4", "5", "6"

NEW_MESSAGE_PREFIX = '42["new message",'
MESSAGE_KEY = '"message":"lg:'
_MESSAGE_KEY_LEN = len(MESSAGE_KEY) - 3  # keep the "lg:" in the extracted text


@dataclass(frozen=True)
class Handshake:
    """The Engine.IO open packet: `0{"sid", "upgrades", "pingInterval", "pingTimeout", ...}`."""

    sid: str
    upgrades: tuple[str, ...]
    ping_interval_ms: int
    ping_timeout_ms: int


class ProtocolError(ValueError):
    """The server sent something a Socket.IO v5 server would not."""


class ConnectRefused(ProtocolError):
    """The server answered the Socket.IO CONNECT with CONNECT_ERROR (`44`), e.g. while it drains."""


def parse_open(packet: str) -> Handshake:
    if not packet.startswith(OPEN):
        raise ProtocolError(f"expected an Engine.IO open packet, got {packet[:40]!r}")
    try:
        data = json.loads(packet[1:])
        return Handshake(
            sid=str(data["sid"]),
            upgrades=tuple(data.get("upgrades", ())),
            ping_interval_ms=int(data.get("pingInterval", 25000)),
            ping_timeout_ms=int(data.get("pingTimeout", 20000)),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"bad open packet {packet[:80]!r}: {exc}") from None


def split_payload(body: str) -> list[str]:
    """The Engine.IO packets of one long-polling response."""
    return [p for p in body.split(RECORD_SEPARATOR) if p]


def event(name: str, *args: Any) -> str:
    """`42["name",args...]`: a Socket.IO event on the default namespace, without an ack id."""
    return "42" + json.dumps([name, *args], separators=(",", ":"))


def event_with_ack(ack_id: int, name: str, *args: Any) -> str:
    """`42<id>["name",args...]`: an event whose receiver answers with an ack packet `43<id>[...]`."""
    return f"42{ack_id}" + json.dumps([name, *args], separators=(",", ":"))


def parse_ack(packet: str) -> tuple[int, list[Any]] | None:
    """(ack id, answer arguments) of a Socket.IO ACK packet `43<id>[...]`, or None for any other packet."""
    if not packet.startswith("43"):
        return None
    start = packet.find("[", 2)
    if start <= 2 or not packet[2:start].isdigit():
        return None
    try:
        args = json.loads(packet[start:])
    except ValueError:
        raise ProtocolError(f"bad ack packet {packet[:80]!r}") from None
    if not isinstance(args, list):
        raise ProtocolError(f"bad ack packet {packet[:80]!r}")
    return int(packet[2:start]), args


def connect(auth: dict[str, Any] | None = None) -> str:
    """The Socket.IO CONNECT to the default namespace, with an auth payload when given."""
    return "40" + (json.dumps(auth, separators=(",", ":")) if auth else "")


def parse_connect(packet: str) -> dict[str, Any]:
    """The server's CONNECT answer `40{"sid": ..., "pid": ...}`; ProtocolError for a CONNECT_ERROR or other packet."""
    if packet.startswith("44"):
        raise ConnectRefused(f"connection refused: {packet[2:200]}")
    if not packet.startswith("40"):
        raise ProtocolError(f"expected a Socket.IO CONNECT answer, got {packet[:40]!r}")
    try:
        data = json.loads(packet[2:]) if len(packet) > 2 else {}
    except ValueError:
        raise ProtocolError(f"bad CONNECT answer {packet[:80]!r}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"bad CONNECT answer {packet[:80]!r}")
    return data


def event_name(packet: str) -> str | None:
    """The event name of a `42[...]` packet, or None for anything else."""
    if not packet.startswith('42["'):
        return None
    end = packet.find('"', 4)
    return packet[4:end] if end > 4 else None


def event_args(packet: str) -> list[Any]:
    """The arguments of a `42[...]` packet (full JSON decode: not for the hot path)."""
    try:
        data = json.loads(packet[2:])
    except ValueError:
        raise ProtocolError(f"bad event packet {packet[:80]!r}") from None
    if not isinstance(data, list) or not data:
        raise ProtocolError(f"bad event packet {packet[:80]!r}")
    return data[1:]


def event_data(packet: str) -> list[Any]:
    """`[name, args...]` of a `42[...]` or `42<id>[...]` event packet (full JSON decode: not for the hot path)."""
    start = packet.find("[", 2)
    ack_id = packet[2:start] if start >= 2 else None
    if not packet.startswith("42") or ack_id is None or (ack_id and not ack_id.isdigit()):
        raise ProtocolError(f"bad event packet {packet[:80]!r}")
    try:
        data = json.loads(packet[start:])
    except ValueError:
        raise ProtocolError(f"bad event packet {packet[:80]!r}") from None
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise ProtocolError(f"bad event packet {packet[:80]!r}")
    return data


def mark(run: str, sender: int, seq: int, sent_us: int, padding: str = "") -> str:
    """The text of one load-generator message; `padding` makes it `--payload` bytes longer."""
    return f"lg:{run}:{sender}:{seq}:{sent_us}:{padding}"


def message_text(packet: str) -> str | None:
    """The load generator's `lg:...` text inside a `new message` broadcast, found without JSON decoding."""
    start = packet.find(MESSAGE_KEY)
    if start < 0:
        return None
    start += _MESSAGE_KEY_LEN
    end = packet.find('"', start)
    return packet[start:end] if end > 0 else None


def parse_mark(text: str, run: str) -> tuple[int, int, int] | None:
    """(sender, seq, sent_us) of a message this run sent, or None for anyone else's text."""
    parts = text.split(":", 5)
    if len(parts) < 5 or parts[0] != "lg" or parts[1] != run:
        return None
    try:
        return int(parts[2]), int(parts[3]), int(parts[4])
    except ValueError:
        return None

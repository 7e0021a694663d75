"""The chat protocol's promises (chat/events.py): an ack means Redis has it, no input stops a worker, names are
unique and visible, and a resent id is delivered once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import websockets

from support.chat_client import ChatClient
from support.workers import start_worker


class RawClient:
    """A Socket.IO client written by hand, to send frames no well-behaved client library would."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_ack = 1

    @classmethod
    async def login(cls, port: int, name: str) -> RawClient:
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
        assert str(await ws.recv()).startswith("0")
        await ws.send("40")
        assert str(await ws.recv()).startswith("40")
        client = cls(ws)
        assert (await client.call(json.dumps(["add user", name])))["ok"]
        return client

    async def call(self, event_json: str) -> dict[str, Any]:
        """Send `42<id><event_json>` as written and return the ack's first argument."""
        ack_id = self.next_ack
        self.next_ack += 1
        await self.ws.send(f"42{ack_id}{event_json}")
        async with asyncio.timeout(15):
            while True:
                frame = str(await self.ws.recv())
                if frame == "2":
                    await self.ws.send("3")  # answer the heartbeat
                elif frame.startswith(f"43{ack_id}["):
                    answer: dict[str, Any] = json.loads(frame[len(f"43{ack_id}") :])[0]
                    return answer

    async def close(self) -> None:
        await self.ws.close()


@contextlib.asynccontextmanager
async def sender_and_receiver(
    redis_url: str, key_prefix: str, **env: str
) -> AsyncIterator[tuple[ChatClient, ChatClient]]:
    """One worker, and two logged-in clients on it."""
    worker = start_worker(redis_url, key_prefix, **env)
    sender, receiver = ChatClient("sender"), ChatClient("receiver")
    try:
        for client in (sender, receiver):
            await client.connect(worker.url, ["websocket"])
            await client.login()
        yield sender, receiver
    finally:
        await sender.close()
        await receiver.close()
        worker.stop()


@contextlib.contextmanager
def frozen(redis: Any) -> Iterator[None]:
    """Redis unreachable: SIGSTOP (connections hang, then time out), SIGCONT on the way out."""
    redis.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        redis.process.send_signal(signal.SIGCONT)


@pytest.mark.parametrize("with_id", [True, False], ids=["with-id", "without-id"])
async def test_a_lone_surrogate_is_refused_and_the_worker_keeps_broadcasting(
    shared_redis_url: str, key_prefix: str, with_id: bool
) -> None:
    worker = start_worker(shared_redis_url, key_prefix)
    bob = ChatClient("bob")
    raw: RawClient | None = None
    try:
        raw = await RawClient.login(worker.port, "mallory")
        await bob.connect(worker.url, ["websocket"])
        await bob.login()
        meta = ',{"id":"x"}' if with_id else ""
        ack = await raw.call('["new message","\\udfff"' + meta + "]")  # JSON's escape of a lone surrogate
        assert ack["ok"] is False and "surrogate" in ack["error"] and "retry" not in ack, ack
        assert (await raw.call('["new message","after the bad one",{"id":"y"}]')) == {"ok": True}
        assert (await bob.say("bob still talks"))["ok"]
        heard = await bob.wait_for("new message", lambda d: d["username"] == "mallory")
        assert heard["message"] == "after the bad one"
        async with httpx.AsyncClient(base_url=worker.url, timeout=5) as http:
            assert (await http.get("/healthz")).status_code == 200
    finally:
        if raw is not None:
            await raw.close()
        await bob.close()
        worker.stop()


async def test_usernames_are_unique_across_workers_and_free_again_after_a_logout(
    shared_redis_url: str, key_prefix: str
) -> None:
    workers = [start_worker(shared_redis_url, key_prefix, LEAVE_GRACE="0") for _ in range(2)]
    alice, impostor, zoe = ChatClient("alice"), ChatClient("ALICE"), ChatClient("zoe")
    try:
        await alice.connect(workers[0].url, ["websocket"])
        assert (await alice.login())["ok"]
        await impostor.connect(workers[1].url, ["websocket"])
        refused = await impostor.login()
        assert refused == {"ok": False, "error": "the name 'ALICE' is taken: choose another one"}
        hidden = await impostor.login("ali\u200bce")
        assert not hidden["ok"] and "U+200B" in hidden["error"], hidden
        await zoe.connect(workers[1].url, ["websocket"])
        assert (await zoe.login())["ok"]
        await alice.close()  # a logout frees the name at once
        await zoe.wait_for("user left", lambda d: d["username"] == "alice")
        assert (await impostor.login())["ok"]
    finally:
        for client in (impostor, zoe):
            await client.close()
        for worker in workers:
            worker.stop()


async def test_resending_several_ids_delivers_each_message_once(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with sender_and_receiver(shared_redis_url, key_prefix) as (sender, receiver):
        first = [await sender.sio.call("new message", (t, {"id": t}), timeout=10) for t in "ABC"]
        again = [await sender.sio.call("new message", (t, {"id": t}), timeout=10) for t in "ABC"]
        assert first == [{"ok": True}] * 3
        assert again == [{"ok": True, "duplicate": True}] * 3
        assert (await sender.say("D"))["ok"]
        await receiver.wait_for("new message", lambda d: d["message"] == "D")
        assert [m["message"] for m in receiver.received("new message")] == ["A", "B", "C", "D"]


async def test_no_ok_ack_until_redis_has_the_message(private_redis: Any, key_prefix: str) -> None:
    """Redis frozen: the message waits, unacknowledged; once Redis answers it is stored, acked and sent."""
    async with sender_and_receiver(private_redis.url, key_prefix, PUBLISH_TIMEOUT="30") as (sender, receiver):
        with frozen(private_redis):
            pending = asyncio.ensure_future(
                sender.sio.call("new message", ("held", {"id": "h1"}), timeout=30)
            )
            await asyncio.sleep(7.0)  # longer than the worker's Redis socket timeout (5 s)
            assert not pending.done(), f"acked while Redis could not store it: {pending.result()}"
        assert await pending == {"ok": True}
        heard = await receiver.wait_for("new message", lambda d: d["username"] == "sender", timeout=15)
        assert heard["message"] == "held"


async def test_redis_down_past_the_publish_timeout_gives_a_retryable_refusal_and_the_resend_goes_through(
    private_redis: Any, key_prefix: str
) -> None:
    async with sender_and_receiver(private_redis.url, key_prefix, PUBLISH_TIMEOUT="1") as (sender, receiver):
        with frozen(private_redis):
            refused = await sender.sio.call("new message", ("later", {"id": "l1"}), timeout=20)
        assert refused["ok"] is False and refused["retry"] is True and "retry" in refused["error"], refused
        assert (await sender.sio.call("new message", ("later", {"id": "l1"}), timeout=20)) == {"ok": True}
        await receiver.wait_for("new message", lambda d: d["message"] == "later", timeout=15)
        await asyncio.sleep(0.3)
        assert [m["message"] for m in receiver.received("new message")] == ["later"]


async def test_a_message_after_redis_restarted_empty_stores_the_whole_session(
    private_redis: Any, key_prefix: str
) -> None:
    """The message's write recreates the session Redis lost, with its name: a later recovery must not bring the
    client back nameless (it would skip `add user`, and every message after would be refused)."""
    import redis.asyncio as aioredis

    async with sender_and_receiver(private_redis.url, key_prefix) as (sender, _receiver):
        private_redis.stop()
        private_redis.start()  # empty: no persistence
        ack = await sender.sio.call_with_retry(
            "new message", "after", {"id": "a1"}, ack_timeout=5, retries=10
        )
        assert ack == {"ok": True}
        client = aioredis.Redis.from_url(private_redis.url, decode_responses=True)
        try:
            session = await client.hgetall(f"{key_prefix}:session:{sender.sio.pid}")
        finally:
            await client.aclose()
        assert session.get("username") == "sender", session


async def test_a_reconnect_with_a_malformed_offset_gets_a_fresh_session(
    shared_redis_url: str, key_prefix: str
) -> None:
    """An offset that is not a stream id once raised inside the CONNECT handler: no answer, and the half-admitted
    connection was never cleaned up."""
    async with sender_and_receiver(shared_redis_url, key_prefix) as (sender, _receiver):
        port = int(sender.sio.connection_url.rsplit(":", 1)[1].split("/")[0])
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
        try:
            assert str(await ws.recv()).startswith("0")
            await ws.send("40" + json.dumps({"pid": sender.sio.pid, "offset": "not-an-offset"}))
            async with asyncio.timeout(10):
                answer = str(await ws.recv())
            assert answer.startswith("40{"), answer
            assert json.loads(answer[2:])["pid"] != sender.sio.pid  # fresh, not the sender's session
        finally:
            await ws.close()


async def test_messages_waiting_when_their_sender_leaves_are_dropped_unacked(
    private_redis: Any, key_prefix: str
) -> None:
    """Nothing was acked, so nothing is owed; and nothing may be broadcast in the name of a user after it left.
    (The first message's XADD may already be on its way to Redis: that one can still be published, before the
    leave.)"""
    async with sender_and_receiver(private_redis.url, key_prefix, PUBLISH_TIMEOUT="30") as (sender, receiver):
        with frozen(private_redis):
            for i in range(3):
                await sender.sio.emit("new message", (f"late {i}", {"id": f"t{i}"}))
            await asyncio.sleep(1.0)
            await sender.sio.disconnect()  # a logout while its messages wait for Redis
            await asyncio.sleep(1.0)
        await receiver.wait_for("user left", lambda d: d["username"] == "sender", timeout=20)
        await asyncio.sleep(1.0)
        after_leave = receiver.events[[name for name, _ in receiver.events].index("user left") :]
        assert not [data for name, data in after_leave if name == "new message"], receiver.events
        assert "late 1" not in [m["message"] for m in receiver.received("new message")]
        assert "late 2" not in [m["message"] for m in receiver.received("new message")]

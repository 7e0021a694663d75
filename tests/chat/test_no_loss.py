"""Acceptance (issue 7): nothing a user sent is lost through a crashed task, a Redis restart or a flood."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest

from support.alb import deployment
from support.chat_client import ChatClient, missing_and_duplicated
from support.workers import start_worker

FAST = {"MESSAGE_RATE": "1000", "MESSAGE_BURST": "1000"}


def texts(client: ChatClient, sender: str) -> list[str]:
    return [m["message"] for m in client.received("new message") if m["username"] == sender]


@pytest.mark.slow
async def test_a_client_whose_worker_is_sigkilled_gets_everything_after_reconnecting(
    shared_redis_url: str, key_prefix: str
) -> None:
    async with deployment(shared_redis_url, key_prefix, workers=2, **FAST) as dep:
        victim = ChatClient("victim", reconnection=True)
        await victim.connect(dep.url, ["websocket"])
        await victim.login()
        [victim_target] = dep.target_of_connections()
        survivor_target = next(t for t in dep.workers if t != victim_target)
        sender = ChatClient("sender")
        try:
            await sender.connect(dep.workers[survivor_target].url, ["websocket"])
            await sender.login()
            sent: list[str] = []
            for i in range(150):
                text = f"m{i:03d}"
                assert (await sender.say(text))["ok"], text
                sent.append(text)
                if i == 30:
                    dep.workers[victim_target].kill()
                await asyncio.sleep(0.01)
            deadline = time.monotonic() + 30
            while texts(victim, "sender") != sent and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            got = texts(victim, "sender")
            assert got == sent, missing_and_duplicated(sent, got)
            assert victim.sio.recovered
        finally:
            await victim.close()
            await sender.close()


@pytest.mark.slow
async def test_a_redis_restart_under_200_msgs_per_second_loses_and_duplicates_nothing(
    private_redis: Any, key_prefix: str
) -> None:
    workers = [start_worker(private_redis.url, key_prefix, **FAST) for _ in range(2)]
    senders = [ChatClient("s0"), ChatClient("s1")]
    receivers = [ChatClient("r0"), ChatClient("r1")]
    try:
        for i, client in enumerate(senders + receivers):
            await client.connect(workers[i % 2].url, ["websocket"])
            await client.login()
        sent: dict[str, list[str]] = {"s0": [], "s1": []}
        refused = 0

        async def stream(client: ChatClient, count: int) -> None:
            nonlocal refused
            for i in range(count):
                text = f"{client.name}-{i:04d}"
                ack = await client.sio.call("new message", text, timeout=15)
                if ack.get("ok"):
                    sent[client.name].append(text)
                else:
                    refused += 1
                await asyncio.sleep(0.01)  # two senders at ~100 msg/s each

        async def restart_redis() -> None:
            await asyncio.sleep(1.5)
            private_redis.stop()
            await asyncio.sleep(1.5)
            private_redis.start()

        await asyncio.gather(stream(senders[0], 500), stream(senders[1], 500), restart_redis())
        assert refused == 0
        deadline = time.monotonic() + 30
        for receiver in receivers:
            for name, expected in sent.items():
                while texts(receiver, name) != expected and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                got = texts(receiver, name)
                assert len(got) == len(set(got)), f"{receiver.name} got duplicates from {name}"
                assert got == expected, f"{receiver.name} lost {len(set(expected) - set(got))} of {name}'s"
    finally:
        for client in senders + receivers:
            await client.close()
        for worker in workers:
            worker.stop()


async def test_a_flood_is_shaped_then_refused_as_retryable_while_others_chat_on(
    shared_redis_url: str, key_prefix: str
) -> None:
    """Over the rate, messages wait their turn (every one accepted is delivered); past MESSAGE_QUEUE waiting, the
    rest are refused as retryable, and the other users chat on undisturbed."""
    worker = start_worker(
        shared_redis_url, key_prefix, MESSAGE_RATE="5", MESSAGE_BURST="10", MESSAGE_QUEUE="20"
    )
    flooder, alice, bob = ChatClient("flooder"), ChatClient("alice"), ChatClient("bob")
    try:
        for client in (flooder, alice, bob):
            await client.connect(worker.url, ["websocket"])
            await client.login()
        flood = asyncio.gather(*(flooder.say(f"spam {i:03d}") for i in range(100)))
        assert (await alice.say("hello bob"))["ok"]
        assert (await bob.wait_for("new message", lambda d: d["username"] == "alice"))[
            "message"
        ] == "hello bob"
        acks = await flood
        accepted = [f"spam {i:03d}" for i, a in enumerate(acks) if a["ok"]]
        refused = [a for a in acks if not a["ok"]]
        assert len(accepted) >= 20  # the burst, the MESSAGE_QUEUE that waited their turn, more as it drained
        assert refused and all(a.get("retry") is True and "already wait" in a["error"] for a in refused)
        error = await flooder.wait_for("error")
        assert error["event"] == "new message" and error["retry"] is True
        await bob.wait_for("new message", lambda d: d["message"] == accepted[-1])
        assert texts(bob, "flooder") == accepted  # in order, each once
    finally:
        for client in (flooder, alice, bob):
            await client.close()
        worker.stop()


@pytest.mark.slow
async def test_a_client_that_stops_reading_is_cut_off(shared_redis_url: str, key_prefix: str) -> None:
    """A reader that stalls is disconnected once MAX_UNSENT_BYTES wait for it, instead of growing memory."""
    import socket

    import websockets

    # heartbeats slower than the test, so only the unsent-bytes limit can cut the client off
    worker = start_worker(
        shared_redis_url,
        key_prefix,
        MAX_UNSENT_BYTES="65536",
        LEAVE_GRACE="0",
        PING_INTERVAL="60",
        PING_TIMEOUT="60",
        MESSAGE_RATE="100000",
        MESSAGE_BURST="100000",
    )
    alice, bob = ChatClient("alice"), ChatClient("bob")
    raw = socket.socket()
    raw.setsockopt(
        socket.SOL_SOCKET, socket.SO_RCVBUF, 4096
    )  # a small window: the backlog stays on the server
    raw.connect(("127.0.0.1", worker.port))
    try:
        stalled = await websockets.connect(
            f"ws://127.0.0.1:{worker.port}/socket.io/?EIO=4&transport=websocket", sock=raw, max_size=None
        )
        assert str(await stalled.recv()).startswith("0")
        await stalled.send("40")
        assert str(await stalled.recv()).startswith("40")
        await stalled.send('42["add user","stalled"]')
        for client in (alice, bob):
            await client.connect(worker.url, ["websocket"])
            await client.login()
        # the stalled client never reads again; alice talks (more than the kernel's socket buffers hold), bob
        # keeps up
        count = 0
        for _batch in range(40):
            acks = await asyncio.gather(*(alice.say(f"{count + i:04d} " + "x" * 1990) for i in range(100)))
            assert all(ack["ok"] for ack in acks), [a for a in acks if not a["ok"]][:2]
            count += 100
            if bob.received("user left"):
                break
        left = await bob.wait_for("user left", lambda d: d["username"] == "stalled", timeout=20)
        assert left["numUsers"] == 2
        await bob.wait_for("new message", lambda d: d["message"].startswith(f"{count - 1:04d}"))
        assert len(texts(bob, "alice")) == count  # everyone else got everything
    finally:
        await alice.close()
        await bob.close()
        raw.close()
        worker.stop()


@pytest.mark.slow
async def test_redis_down_then_the_senders_worker_sigkilled_loses_no_acked_message(
    private_redis: Any, key_prefix: str
) -> None:
    """Redis frozen for 7.5 s while a client sends; 6.5 s in, the sender's worker is SIGKILLed. Nothing it had acked
    may be lost: an ack only ever came for what Redis held, and the client sends the rest again, with the same
    ids, through the load balancer to the survivor."""
    async with deployment(private_redis.url, key_prefix, workers=2) as dep:
        sender = ChatClient("sender", reconnection=True)
        await sender.connect(dep.url, ["websocket"])
        await sender.login()
        [victim] = dep.target_of_connections()
        survivor = next(t for t in dep.workers if t != victim)
        receiver = ChatClient("receiver")
        acked: list[str] = []

        async def outage() -> None:
            await asyncio.sleep(1.0)
            private_redis.process.send_signal(signal.SIGSTOP)
            try:
                await asyncio.sleep(6.5)  # longer than the worker's Redis socket timeout (5 s)
                dep.workers[victim].kill()
                await asyncio.sleep(1.0)
            finally:
                private_redis.process.send_signal(signal.SIGCONT)

        try:
            await receiver.connect(dep.workers[survivor].url, ["websocket"])
            await receiver.login()
            faulting = asyncio.ensure_future(outage())
            for i in range(80):
                text = f"m{i:03d}"
                ack = await sender.sio.call_with_retry(
                    "new message", text, {"id": text}, ack_timeout=5, retries=20
                )
                assert ack.get("ok"), (text, ack)
                acked.append(text)
                await asyncio.sleep(0.1)
            await faulting
            await receiver.wait_for("new message", lambda d: d["message"] == acked[-1], timeout=20)
            await asyncio.sleep(0.5)  # a late duplicate would arrive now
            got = texts(receiver, "sender")
            assert got == acked, missing_and_duplicated(acked, got)
            assert dep.target_of_connections() == [survivor]
        finally:
            await sender.close()
            await receiver.close()

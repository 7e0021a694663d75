"""Acceptance: a killed worker's users drop out; bad input is answered; /healthz follows Redis."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from support.chat_client import ChatClient
from support.workers import metric, start_worker


@pytest.mark.slow
async def test_sigkilled_workers_users_stop_counting_within_12s(
    shared_redis_url: str, key_prefix: str
) -> None:
    survivor = start_worker(shared_redis_url, key_prefix)
    victim = start_worker(shared_redis_url, key_prefix)
    clients: list[ChatClient] = []
    try:
        for i, worker in enumerate([survivor, victim, victim]):
            client = ChatClient(f"user{i}")
            clients.append(client)
            await client.connect(worker.url, ["websocket"])
            await client.login()
            await client.wait_for("login")
        victim.kill()
        killed_at = time.monotonic()
        seen: list[int] = []
        while time.monotonic() - killed_at < 12:
            probe = ChatClient("probe")
            try:
                await probe.connect(survivor.url, ["websocket"])
                ack = await probe.login()
                seen.append(ack["numUsers"])
            finally:
                await probe.close()
            if seen[-1] == 2:  # user0 + the probe itself
                break
            await asyncio.sleep(0.5)
        assert seen[-1] == 2, f"numUsers still counts the killed worker's users after 12 s: {seen}"
        assert seen[0] == 4, "right after the kill the stale users still counted (sanity check)"
    finally:
        for client in clients:
            await client.close()
        survivor.stop()
        victim.kill()


BAD_USERNAMES: list[Any] = [None, 42, ["x"], {"a": 1}, "", "   ", "x" * 33]
BAD_MESSAGES: list[Any] = [None, 7, ["hi"], "", " ", "m" * 2001]


async def test_bad_input_is_answered_and_the_worker_keeps_serving(
    shared_redis_url: str, key_prefix: str
) -> None:
    worker = start_worker(shared_redis_url, key_prefix)
    bad, good, other = ChatClient("bad"), ChatClient("good"), ChatClient("other")
    try:
        for client in (bad, good, other):
            await client.connect(worker.url, ["websocket"])
        await good.login()
        await other.login()

        ack = await bad.say("before login")
        assert ack["ok"] is False and "add user" in ack["error"]
        assert (await bad.wait_for("error"))["event"] == "new message"
        ack = await bad.sio.call("typing", timeout=5)
        assert ack["ok"] is False
        for username in BAD_USERNAMES:
            ack = await bad.sio.call("add user", username, timeout=5)
            assert ack["ok"] is False, username
        assert "32" in (await bad.sio.call("add user", "x" * 33, timeout=5))["error"]
        ack = await bad.sio.call("add user", timeout=5)  # no argument at all
        assert ack["ok"] is False
        assert (await bad.login("bad"))["ok"] is True
        assert (await bad.login("again"))["ok"] is False  # one name per connection
        for message in BAD_MESSAGES:
            ack = await bad.say(message)
            assert ack["ok"] is False, message
        assert "2000" in (await bad.say("m" * 2001))["error"]
        assert (await bad.sio.call("no such event", 1, timeout=5))["ok"] is False
        errors = bad.received("error")
        assert len(errors) >= len(BAD_USERNAMES) + len(BAD_MESSAGES)

        # the connection and the worker still work for everyone, and the limit is inclusive
        assert (await bad.say("m" * 2000))["ok"] is True
        await good.say("still here")
        assert (await other.wait_for("new message", lambda d: d["username"] == "good")) == {
            "username": "good",
            "message": "still here",
        }
        assert (await other.wait_for("new message", lambda d: d["username"] == "bad"))[
            "message"
        ] == "m" * 2000
        assert not [e for e in good.received("new message") if e["message"] in BAD_MESSAGES]
    finally:
        for client in (bad, good, other):
            await client.close()
        worker.stop()


@pytest.mark.slow
async def test_healthz_follows_redis(private_redis: Any, key_prefix: str) -> None:
    worker = start_worker(private_redis.url, key_prefix)
    try:
        async with httpx.AsyncClient(base_url=worker.url, timeout=5) as http:
            response = await http.get("/healthz")
            assert response.status_code == 200, response.text

            private_redis.stop()
            response = await http.get("/healthz")
            assert response.status_code == 503
            assert response.text == "unhealthy\n"  # why is for the operator: the log and /metrics
            assert 'chat_health_info{reason="redis unreachable' in (await http.get("/metrics")).text

            private_redis.start()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                response = await http.get("/healthz")
                if response.status_code == 200:
                    break
                await asyncio.sleep(0.25)
            assert response.status_code == 200, response.text

            # and the worker really works again across the restart: a message goes through Redis
            alice, bob = ChatClient("alice"), ChatClient("bob")
            try:
                await alice.connect(worker.url, ["websocket"])
                await bob.connect(worker.url, ["websocket"])
                await alice.login()
                await bob.login()
                await alice.say("after the restart")
                assert (await bob.wait_for("new message"))["message"] == "after the restart"
            finally:
                await alice.close()
                await bob.close()
    finally:
        worker.stop()


async def test_page_and_unknown_paths(shared_redis_url: str, key_prefix: str) -> None:
    worker = start_worker(shared_redis_url, key_prefix)
    try:
        async with httpx.AsyncClient(base_url=worker.url, timeout=5) as http:
            page = await http.get("/")
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert (await http.get("/nope")).status_code == 404
            assert (await http.get("/static/../config.py")).status_code == 404
            assert (await http.post("/healthz")).status_code == 405
    finally:
        worker.stop()


async def test_a_resent_message_id_is_acknowledged_but_broadcast_once(
    shared_redis_url: str, key_prefix: str
) -> None:
    worker = start_worker(shared_redis_url, key_prefix)
    alice, bob = ChatClient("alice"), ChatClient("bob")
    try:
        for client in (alice, bob):
            await client.connect(worker.url, ["websocket"])
            await client.login()
        first = await alice.sio.call("new message", ("hello", {"id": "m-1"}), timeout=5)
        again = await alice.sio.call("new message", ("hello", {"id": "m-1"}), timeout=5)
        other = await alice.sio.call("new message", ("hello", {"id": "m-2"}), timeout=5)
        assert first == {"ok": True}
        assert again == {"ok": True, "duplicate": True}
        assert other == {"ok": True}  # the same text with another id is a new message
        bad = await alice.sio.call("new message", ("x", {"id": 5}), timeout=5)
        assert bad["ok"] is False and "id" in bad["error"]
        await asyncio.sleep(0.5)
        assert [m["message"] for m in bob.received("new message")] == ["hello", "hello"]
    finally:
        await alice.close()
        await bob.close()
        worker.stop()


@pytest.mark.slow
async def test_healthz_stays_200_while_nothing_is_said(shared_redis_url: str, key_prefix: str) -> None:
    """An idle stream must not look like a Redis failure (a blocked XREAD outlives redis-py's socket timeout)."""
    worker = start_worker(shared_redis_url, key_prefix)
    try:
        async with httpx.AsyncClient(base_url=worker.url, timeout=5) as http:
            codes = set()
            deadline = (
                time.monotonic() + 7
            )  # past the 5 s read block and redis-py's default 5 s socket timeout
            while time.monotonic() < deadline:
                codes.add((await http.get("/healthz")).status_code)
                await asyncio.sleep(0.05)
            assert codes == {200}
    finally:
        worker.stop()


async def test_metrics_count_what_the_worker_did(shared_redis_url: str, key_prefix: str) -> None:
    worker = start_worker(shared_redis_url, key_prefix, MESSAGE_RATE="1", MESSAGE_BURST="2")
    alice, bob = ChatClient("alice"), ChatClient("bob")
    try:
        for client in (alice, bob):
            await client.connect(worker.url, ["websocket"])
            await client.login()
        for i in range(3):
            assert (await alice.say(f"m{i}"))["ok"]  # the third waits for the rate limit, then goes through
        await bob.wait_for("new message", lambda d: d["message"] == "m2")
        async with httpx.AsyncClient(base_url=worker.url, timeout=5) as http:
            response = await http.get("/metrics")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert metric(text, "chat_connections") == 2
        assert metric(text, "chat_users") == 2
        assert metric(text, "chat_messages_accepted_total") == 3
        assert metric(text, "chat_rate_limited_total") == 1  # delayed, not refused
        assert metric(text, "chat_deliveries_total") >= 4  # alice's 3 to bob, bob's join to alice
        assert metric(text, "chat_broadcast_reader_up") == 1
    finally:
        await alice.close()
        await bob.close()
        worker.stop()

"""Acceptance (issue 7): scale-in through the emulator while clients chat loses nothing.

The ECS desired count is lowered in moto; the cluster drains the removed tasks the AWS way (deregister, draining
for the deregistration delay, SIGTERM, stop timeout); their clients reconnect through the load balancer to the
remaining task and recover there. Every message reaches every client exactly once, in order.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from emulator.alb import TargetState
from emulator.supervisor import Emulator, EmulatorConfig
from support.chat_client import ChatClient

SCALE = 20.0  # the 30 s deregistration delay takes 1.5 s


def healthy(emulator: Emulator) -> list[str]:
    assert emulator.target_group is not None
    return [t.target_id for t in emulator.target_group.describe() if t.state is TargetState.HEALTHY]


async def until(predicate: object, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_scale_in_while_clients_chat_loses_nothing(tmp_path: Path) -> None:
    config = EmulatorConfig(
        workers=3,
        port=0,
        time_scale=SCALE,
        state_file=tmp_path / "state.json",
    )
    emulator = Emulator(config)
    clients: list[ChatClient] = []
    try:
        await emulator.start()
        await until(lambda: len(healthy(emulator)) == 3)
        assert emulator.load_balancer is not None and emulator.service is not None
        url = emulator.load_balancer.url
        clients = [ChatClient(f"c{i}", reconnection=True) for i in range(6)]
        for client in clients:
            await client.connect(url, ["websocket"])
            await client.login()
        sender, receivers = clients[0], clients[1:]
        homes = {t.target_id for t in emulator.target_group.describe() if t.open_connections}  # type: ignore[union-attr]
        assert len(homes) == 3, "round robin spreads the clients over the three tasks"

        sent: list[str] = []

        async def chat() -> None:
            for i in range(120):
                text = f"m{i:03d}"
                ack = await sender.sio.call_with_retry("new message", text, {"id": text}, ack_timeout=5)
                assert ack["ok"], ack
                sent.append(text)
                await asyncio.sleep(0.12)  # under the default 10 msg/s limit

        async def scale_in() -> None:
            await asyncio.sleep(2)
            emulator.account.client("ecs").update_service(
                cluster=emulator.service.cluster_name,  # type: ignore[union-attr]
                service=emulator.service.service_name,  # type: ignore[union-attr]
                desiredCount=1,
            )

        await asyncio.gather(chat(), scale_in())
        await until(lambda: len(healthy(emulator)) == 1)

        deadline = time.monotonic() + 20
        for receiver in receivers:
            while (
                time.monotonic() < deadline
                and [m["message"] for m in receiver.received("new message")] != sent
            ):
                await asyncio.sleep(0.1)
            got = [m["message"] for m in receiver.received("new message")]
            assert got == sent, (
                f"{receiver.name}: {len(set(sent) - set(got))} lost, {len(got) - len(set(got))} duplicated"
            )
        moved = [c for c in receivers if c.sio.recovered]
        assert moved, "the clients of the removed tasks reconnected and recovered their sessions"
        assert all(c.received("user left") == [] for c in clients), "nobody was shown leaving"
    finally:
        for client in clients:
            await client.close()
        await emulator.shutdown(force=True)

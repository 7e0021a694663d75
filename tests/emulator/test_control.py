"""The live control plane's edges: CPU per task between readings; writes queued to moto in order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from emulator.admin import MotoWriter
from emulator.control import CpuMeter, ServiceSink


def test_cpu_meter_reports_cpu_used_since_the_last_reading_and_skips_new_tasks() -> None:
    readings = iter([{"a": 10.0}, {"a": 10.5, "b": 3.0}, {"a": 11.0, "b": 3.25}])
    walls = iter([100.0, 101.0, 103.0])
    meter = CpuMeter(lambda: next(readings), wall=lambda: next(walls))

    assert meter.sample_by_task() == ({}, 0.0)  # no baseline yet
    assert meter.sample_by_task() == ({"a": 0.5}, 1.0)  # b is new: its start-up is not load
    assert meter.percent_by_task(task_vcpu=0.25) == {"a": 100.0, "b": 50.0}  # a capped at its vCPU


async def test_service_sink_writes_in_order_and_ignores_reads_older_than_its_writes() -> None:
    calls: list[tuple[str, Any]] = []

    class Account:
        def put_cpu_utilization(self, percent: list[float], at: datetime) -> None:
            calls.append(("cpu", percent))

        def set_alarm_state(self, name: str, state: str, reason: str, data: Any) -> None:
            calls.append(("alarm", (name, state)))

        def set_desired_count(self, n: int) -> None:
            calls.append(("desired", n))

    moto, followed = MotoWriter(), list[int]()
    moto.start()
    sink = ServiceSink(Account(), moto, desired_count=2, on_desired=followed.append)
    sink.put_cpu_utilization([80.0], datetime.now(UTC))
    sink.set_alarm_state("high", "ALARM", "Threshold Crossed")
    read_before_write = sink.generation
    sink.set_desired_count(3)
    await moto.close()

    assert calls == [("cpu", [80.0]), ("alarm", ("high", "ALARM")), ("desired", 3)]
    assert followed == [3] and sink.desired_count() == 3
    assert not sink.observed(2, read_before_write)  # a read in flight during the write is stale
    assert sink.desired_count() == 3
    assert sink.observed(5, sink.generation)  # a user's update-service, read later, is taken
    assert sink.desired_count() == 5


async def test_message_meter_reads_each_workers_accepted_messages_per_second(
    shared_redis_url: str, key_prefix: str
) -> None:
    import aiohttp

    from emulator.control import MessageMeter
    from support.chat_client import ChatClient
    from support.workers import start_worker

    clock = [100.0]
    worker = start_worker(shared_redis_url, key_prefix)
    alice = ChatClient("alice")
    meter = MessageMeter(wall=lambda: clock[0])
    try:
        await alice.connect(worker.url, ["websocket"])
        await alice.login()
        async with aiohttp.ClientSession() as session:
            targets = {"t1": worker.url, "gone": "http://127.0.0.1:9"}
            assert await meter.rates(session, targets) == {}  # a first reading is no rate yet
            for i in range(4):
                await alice.say(f"m{i}")
            clock[0] += 2.0
            assert await meter.rates(session, targets) == {
                "t1": 2.0
            }  # 4 messages in 2 s; "gone" has no figure
    finally:
        await alice.close()
        worker.stop()

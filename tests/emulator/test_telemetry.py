"""Telemetry: CPU per task between readings, the one CPUUtilization formula, messages per second, open connections."""

from __future__ import annotations

import asyncio

from emulator.telemetry import CpuMeter, CpuSample, task_utilization


def test_cpu_meter_reports_cpu_used_since_the_last_reading_and_skips_new_tasks() -> None:
    readings = iter([{"a": 10.0}, {"a": 10.5, "b": 3.0}, {"a": 11.0, "b": 3.25}])
    walls = iter([100.0, 101.0, 103.0])
    meter = CpuMeter(lambda: next(readings), wall=lambda: next(walls))

    assert meter.sample_by_task() == ({}, 0.0)  # no baseline yet
    assert meter.sample_by_task() == ({"a": 0.5}, 1.0)  # b is new: its start-up is not load
    assert meter.percent_by_task(task_vcpu=0.25) == {"a": 100.0, "b": 50.0}  # a capped at its vCPU


def test_task_utilization_is_cpu_seconds_over_elapsed_times_vcpu_capped_at_100() -> None:
    assert task_utilization(CpuSample([42.0, 6.0], 60.0), 1.0) == [70.0, 10.0]
    assert task_utilization(CpuSample([15.0], 60.0), 0.5) == [50.0]
    assert task_utilization(CpuSample([200.0], 60.0), 1.0) == [100.0]
    assert task_utilization(CpuSample([1.0], 0.0), 1.0) == []


async def test_message_meter_reads_each_workers_accepted_messages_per_second(
    shared_redis_url: str, key_prefix: str
) -> None:
    import aiohttp

    from emulator.telemetry import ConnectionGauge, MessageMeter
    from support.chat_client import ChatClient
    from support.workers import start_worker

    clock = [100.0]
    worker = start_worker(shared_redis_url, key_prefix)
    alice = ChatClient("alice")
    targets = {"t1": worker.url, "gone": "http://127.0.0.1:9"}
    reader = ConnectionGauge(lambda: targets, asyncio.sleep, wall=lambda: clock[0])  # the one /metrics reader
    meter = MessageMeter()
    try:
        await alice.connect(worker.url, ["websocket"])
        await alice.login()
        async with aiohttp.ClientSession() as session:
            await reader.read(session)
            assert meter.rates(reader.documents) == {}  # a first reading is no rate yet
            for i in range(4):
                await alice.say(f"m{i}")
            clock[0] += 2.0
            await reader.read(session)
            assert meter.rates(reader.documents) == {"t1": 2.0}  # 4 messages in 2 s; "gone" has no figure
            assert meter.rates(reader.documents) == {"t1": 2.0}  # the same reading again: the same figure
    finally:
        await alice.close()
        worker.stop()


async def test_connection_gauge_answers_each_listed_targets_open_connections_from_its_latest_reading(
    shared_redis_url: str, key_prefix: str
) -> None:
    import aiohttp

    from emulator.telemetry import ConnectionGauge
    from support.chat_client import ChatClient
    from support.workers import start_worker

    worker = start_worker(shared_redis_url, key_prefix)
    listed = {"t1": worker.url, "gone": "http://127.0.0.1:9"}
    clients = [ChatClient(f"c{i}") for i in range(3)]

    async def never(seconds: float) -> None:
        raise AssertionError("read() is called directly here")

    gauge = ConnectionGauge(lambda: listed, never)
    try:
        assert gauge.connections() == []  # nobody has answered yet
        for client in clients:
            await client.connect(worker.url, ["websocket"])
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as session:
            await gauge.read(session)
            assert gauge.connections() == [3.0]  # "gone" does not answer: no value, not a zero
            await clients.pop().close()
            assert gauge.connections() == [3.0]  # synchronous: the latest reading, until the next one
            for _ in range(50):  # the worker sees the disconnect a moment later
                await gauge.read(session)
                if gauge.connections() != [3.0]:
                    break
                await asyncio.sleep(0.05)
            assert gauge.connections() == [2.0]
            del listed["t1"]  # deregistered and drained: no longer a serving task
            assert gauge.connections() == []
    finally:
        for client in clients:
            await client.close()
        worker.stop()

"""The simulated fleet with a load in users: sticky connections, drains that move them, memory, churn, billing."""

from __future__ import annotations

import math

import pytest

from emulator.ecs.model import Deregister, Forget, Launch, Register, Terminate
from emulator.sim.costmodel import CostModel, Measured
from emulator.sim.fleet import SimulatedFleet
from emulator.sim.load import Load
from emulator.sim.run import SteppedClock

MODEL = CostModel(
    cpu_seconds_per_delivery=10e-6,
    cpu_seconds_per_message=100e-6,
    vcpu_per_connection=1e-4,
    memory_mib_per_connection=1.0,
    base_memory_mib=100.0,
    bytes_per_delivery=100.0,
    bytes_per_connection_second=2.0,
    measured=Measured(date="2026-12-01", machine="a test", command="by hand"),
)


def fleet_of(
    load: Load, tasks: int = 2, *, session_seconds: float = math.inf, memory: float = 2048, delay: float = 30
) -> tuple[SimulatedFleet, SteppedClock]:
    clock = SteppedClock(-60.0)  # the tasks are healthy before the load starts at 0
    fleet = SimulatedFleet(
        task_start_seconds=0,
        deregistration_delay_seconds=delay,
        health_check_interval_seconds=0,
        task_vcpu=1.0,
        task_memory_mib=memory,
        clock=clock,
        load=load,
        model=MODEL,
        session_seconds=session_seconds,
    )
    for i in range(tasks):
        start(fleet, f"t{i}")
    clock.time = 0.0
    return fleet, clock


def start(fleet: SimulatedFleet, task_id: str) -> None:
    fleet.execute(Launch(task_id, revision=None))  # type: ignore[arg-type]
    fleet.execute(Register(task_id))


def test_a_new_task_gets_only_new_users_the_others_keep_theirs() -> None:
    fleet, clock = fleet_of(Load.of_users([200, 200, 230], [0, 0, 0]))
    assert fleet.task_connections() == {"t0": 100, "t1": 100}
    clock.time = 30.0
    start(fleet, "t2")
    clock.time = 59.0
    assert fleet.task_connections() == {"t0": 100, "t1": 100, "t2": 0}  # sticky: nobody moves
    clock.time = 120.0  # minute 2: 30 more users, round robin over the three
    assert fleet.task_connections() == pytest.approx({"t0": 110, "t1": 110, "t2": 10})
    assert fleet.usage(2).new_connections == pytest.approx(30)


def test_a_drained_task_closes_its_connections_after_the_delay_and_they_reconnect_to_the_others() -> None:
    fleet, clock = fleet_of(Load.of_users([300] * 5, [1] * 5), tasks=3, delay=30)
    clock.time = 60.0
    fleet.execute(Deregister("t2"))
    clock.time = 80.0
    assert fleet.task_connections()["t2"] == pytest.approx(
        100
    )  # draining: its users stay until the delay ends
    clock.time = 90.0
    connections = fleet.task_connections()
    assert connections["t2"] == 0 and connections["t0"] == pytest.approx(150)
    assert fleet.moved_at == {90.0: pytest.approx(100)}
    assert fleet.usage(1).moved_connections == pytest.approx(100)
    assert fleet.usage(1).new_connections == pytest.approx(100)  # the reconnections, at the ALB


def test_a_task_stopped_while_serving_moves_its_connections_at_once() -> None:
    fleet, clock = fleet_of(Load.of_users([200] * 3, [0] * 3))
    clock.time = 30.0
    fleet.execute(Terminate("t1"))
    assert fleet.moved_at == {30.0: pytest.approx(100)}
    assert fleet.task_connections() == {"t0": pytest.approx(200)}


def test_a_task_holding_more_connections_than_its_memory_is_over_capacity() -> None:
    # 100 MiB + 1 MiB per connection: a 512 MiB task holds 412 connections.
    fleet, clock = fleet_of(Load.of_users([800, 900], [0, 0]), memory=512)
    clock.time = 120.0
    fleet.task_connections()
    assert fleet.usage(0).over_capacity_seconds == 0  # 400 each
    assert fleet.usage(1).over_capacity_seconds == 60  # 450 each


def test_cpu_demand_above_a_task_s_vcpu_is_over_capacity_and_capped() -> None:
    # 2 x 2000 users, 10 msg/s: each task delivers 10 x 2000 x (1 - 1/4000) ~ 20,000/s x 10 us = 0.2 vCPU, plus
    # 0.2 vCPU of connections and 0.0005 of messages: fine. 40 msg/s: 0.8 + 0.2 + 0.002 > 1 vCPU.
    fleet, clock = fleet_of(Load.of_users([4000, 4000], [10, 40]), memory=4096)
    clock.time = 120.0
    fleet.task_connections()
    assert fleet.usage(0).over_capacity_seconds == 0
    assert fleet.usage(1).over_capacity_seconds == 60
    assert fleet.usage(1).used_vcpu_seconds == pytest.approx(2 * 60)  # capped at 1 vCPU each
    assert fleet.demand_vcpu(60.0) == pytest.approx(MODEL.demand_vcpu(4000, 40))


def test_sessions_that_end_and_come_back_even_out_a_fleet_that_scaled_out() -> None:
    fleet, clock = fleet_of(Load.of_users([200] * 60, [0] * 60), session_seconds=300)
    start(fleet, "t2")
    clock.time = 50 * 60.0
    connections = fleet.task_connections()
    assert sum(connections.values()) == pytest.approx(200)
    assert connections["t2"] == pytest.approx(200 / 3, rel=0.01)


def test_bills_span_launch_to_stop_and_outlive_the_task() -> None:
    fleet, clock = fleet_of(Load.of_users([10] * 3, [0] * 3), tasks=1)
    clock.time = 45.0
    fleet.execute(Terminate("t0"))
    fleet.execute(Forget("t0"))
    assert [(b.task_id, b.launched_at, b.stopped_at) for b in fleet.bills()] == [("t0", -60.0, 45.0)]


def test_the_model_is_linear_in_a_task_s_connections() -> None:
    total = MODEL.demand_vcpu(1000, 20)
    parts = MODEL.task_vcpu(250, 1000, 20) + MODEL.task_vcpu(750, 1000, 20)
    assert parts == pytest.approx(total)
    assert MODEL.deliveries_per_s(1000, 20) == 20 * 999
    assert MODEL.task_memory_mib(1948) == pytest.approx(2048)

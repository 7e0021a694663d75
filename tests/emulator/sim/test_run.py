"""The simulator's model: CPU formula, task start and deregistration delays, summary."""

from __future__ import annotations

from dataclasses import replace

import pytest

from emulator.ecs.model import Launch, Register
from emulator.model import ServiceDescription
from emulator.sim.fleet import SimulatedFleet
from emulator.sim.load import Load
from emulator.sim.run import Options, SteppedClock, simulate
from emulator.telemetry import task_utilization


@pytest.mark.parametrize(
    ("demand", "running", "vcpu", "cpu"),
    [
        (1.4, 2, 1.0, 70.0),
        (30.0, 2, 1.0, 100.0),
        (0.5, 4, 0.5, 25.0),
        (0.0, 3, 1.0, 0.0),
        (2.0, 0, 1.0, None),
    ],
)
def test_cpu_utilization_of_tasks_sharing_a_whole_minute_of_load(
    demand: float, running: int, vcpu: float, cpu: float | None
) -> None:
    """`min(100, 100 x demand / (running x vCPU))` per task, through the one formula the live meter uses."""
    clock = SteppedClock(0.0)
    fleet = SimulatedFleet(
        task_start_seconds=0,
        deregistration_delay_seconds=30,
        health_check_interval_seconds=0,
        task_vcpu=vcpu,
        task_memory_mib=2048,
        clock=clock,
        load=Load.of_vcpu([demand] * 3),
    )
    for i in range(running):
        fleet.execute(Launch(f"t{i}", revision=None))  # type: ignore[arg-type]
        fleet.execute(Register(f"t{i}"))
    fleet.sample()  # the baseline
    clock.time = 60.0
    per_task = task_utilization(fleet.sample(), vcpu)
    assert per_task == ([] if cpu is None else [pytest.approx(cpu)] * running)


def test_a_quiet_service_never_scales(seed_service: ServiceDescription) -> None:
    sim = simulate(seed_service, [0.9] * 60)
    assert {(r.desired, r.running, r.alarm_high, r.alarm_low) for r in sim.rows} == {(2, 2, "OK", "OK")}
    assert sim.summary().task_hours == 2.0 and sim.summary().scaling_activities == 0


def test_new_tasks_run_after_the_task_start_delay(seed_service: ServiceDescription) -> None:
    demand = [1.5] + [0.9] * 5  # minute 0: 75 % -> +1 at its end (t=60)
    default = simulate(seed_service, demand)
    assert [r.desired for r in default.rows[:3]] == [3, 3, 3]
    assert [r.running for r in default.rows[:3]] == [2, 2, 3]  # RUNNING at t=120: minute 2
    assert default.rows[0].activity is not None and default.rows[0].activity.description == "+1 ScaleUpPolicy"
    slow = simulate(seed_service, demand, options=Options(task_start_seconds=150))
    assert [r.running for r in slow.rows[:5]] == [2, 2, 2, 2, 3]  # RUNNING at t=210: minute 4 starts at 240


def test_a_stopped_task_keeps_its_connections_and_its_load_through_the_deregistration_delay(
    seed_service: ServiceDescription,
) -> None:
    """Scale-in at t=60: the task is DEACTIVATING (no longer in runningCount) but its target drains for 150 s,
    so it keeps serving its share until t=210; then the two others carry the whole load. CPUUtilization is used over
    reserved: minute 3 is 18 vCPU-seconds over 60 + 60 + 30 task-seconds (the drained task ran until t=210)."""
    slow_drain = replace(
        seed_service,
        desired_count=3,
        target_group=replace(seed_service.target_group, deregistration_delay_seconds=150),
    )
    sim = simulate(slow_drain, [0.3] * 6)  # 10 % -> -1 at t=60
    assert [r.desired for r in sim.rows[:4]] == [2, 2, 2, 2]
    assert [r.running for r in sim.rows[:3]] == [3, 2, 2]
    cpu = [round(r.cpu_percent or 0, 2) for r in sim.rows[:5]]
    assert cpu == [10.0, 10.0, 10.0, 12.0, 15.0]  # 0.3 vCPU over 3 tasks until t=210, then over 2


def test_summary_counts_task_hours_threshold_minutes_activities_and_peak(
    seed_service: ServiceDescription,
) -> None:
    sim = simulate(seed_service, [1.5, 1.5, 0.9, 0.9])
    # desired 3 then 4; running 2, 2, 3, 4; CPU 75, 75, 30, 22.5
    assert [r.running for r in sim.rows] == [2, 2, 3, 4]
    summary = sim.summary()
    assert summary.task_hours == pytest.approx(11 / 60)
    assert summary.minutes_above_high_threshold == 2
    assert summary.scaling_activities == 2
    assert summary.peak_tasks == 4


def test_max_capacity_caps_a_saturating_load(seed_service: ServiceDescription) -> None:
    sim = simulate(seed_service, [40.0] * 30)
    assert max(r.desired for r in sim.rows) == 10 and sim.rows[-1].running == 10
    assert sim.rows[-1].cpu_percent == 100.0

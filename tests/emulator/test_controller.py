"""The one control loop: live (`run()` on a clock) and `simulate` give the same timeline; what a user changes in the
account is seen on the next tick; SetAlarmState runs a policy once; no scale-in while a deployment rolls."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from emulator.clock import VirtualClock
from emulator.controller import ControlLoop
from emulator.model import ScalableTarget, ServiceDescription
from emulator.sim.account import MemoryAccount
from emulator.sim.run import WARMUP_SECONDS, Options, SteppedClock, drive, simulate, simulated_loop
from support.seed import build_seed_service

HIGH, LOW = "high-cpu", "low-cpu"


def _seed() -> ServiceDescription:
    return build_seed_service()


def _target(service: ServiceDescription) -> ScalableTarget:
    assert service.scalable_target is not None
    return service.scalable_target


class Driver:
    """Moves a SteppedClock through a simulated loop the way `simulate` does, from the end of the warm-up."""

    def __init__(
        self, service: ServiceDescription, demand: list[float], task_start_seconds: float = 60
    ) -> None:
        self.clock = SteppedClock(-WARMUP_SECONDS)
        self.loop, self.account, self.fleet, self.minutes = simulated_loop(
            service, demand, self.clock, options=Options(task_start_seconds=task_start_seconds)
        )

    def run_until(self, end: float) -> None:
        drive(self.loop, self.fleet, self.clock, end)

    def desired(self) -> list[int]:
        return [m.desired for m in self.minutes]


async def test_simulate_and_the_live_loop_on_a_clock_give_the_same_desired_count_timeline() -> None:
    """`simulate` ticks only when something can happen; the live loop ticks every second of its clock (and when
    woken). Same account, scheduler, autoscaler and fleet: the same decisions, minute by minute."""
    service = _seed()
    demand = [0.9] * 5 + [1.6] * 10 + [3.5] * 15 + [0.3] * 30
    expected = simulate(service, demand)
    assert len({r.desired for r in expected.rows}) > 2  # it scales out and back in

    clock = VirtualClock(start=-WARMUP_SECONDS)
    loop, _, _, minutes = simulated_loop(service, demand, clock, interval=1.0)
    running = asyncio.ensure_future(loop.run())
    try:
        for _ in range(int(WARMUP_SECONDS) + len(demand) * 60 + 1):
            await clock.advance(1.0)
            for _ in range(4):  # let the loop tick and go back to sleep before time moves on
                await asyncio.sleep(0)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    live = [m.desired for m in minutes][: len(demand)]
    assert live == [r.desired for r in expected.rows]


def test_a_min_capacity_raised_through_the_api_holds_against_the_low_alarm() -> None:
    """register-scalable-target --min-capacity 3 while the low alarm is in ALARM: the service goes to 3 and stays."""
    service = dataclasses.replace(_seed(), desired_count=2)
    driver = Driver(service, [0.2] * 20)  # 10 %: the low alarm stays in ALARM
    driver.run_until(5 * 60)
    assert driver.account.alarm_states[LOW] == "ALARM"
    # what RegisterScalableTarget does in the account: the new bounds, the desired count clamped into them
    raised = dataclasses.replace(_target(driver.account.service), min_capacity=3)
    driver.account.service = dataclasses.replace(
        driver.account.service, scalable_target=raised, desired_count=3
    )
    driver.run_until(20 * 60)
    assert driver.account.read_service().desired_count == 3
    assert driver.desired()[5:] == [3] * 15
    assert driver.loop.status is not None and driver.loop.status.running_count == 3


class OverridingAccount(MemoryAccount):
    """A MemoryAccount where a user calls SetAlarmState once."""

    pending: dict[str, str]
    alarm_writes: list[tuple[str, str]]

    def take_alarm_overrides(self) -> dict[str, str]:
        taken, self.pending = self.pending, {}
        for name, state in taken.items():
            self.alarm_states[name] = state
        return taken

    def set_alarm_state(self, alarm_name: str, state: str, *args: Any) -> None:
        super().set_alarm_state(alarm_name, state, *args)
        self.alarm_writes.append((alarm_name, state))


def test_set_alarm_state_alarm_runs_the_policy_once_and_the_next_evaluation_restores_the_real_state() -> None:
    service = _seed()
    driver = Driver(service, [0.9] * 10)  # 45 %: both alarms OK
    account = OverridingAccount(driver.account.service)
    account.pending, account.alarm_writes = {}, []
    driver.loop.account = driver.account = account
    driver.loop.autoscaler.account = account
    driver.run_until(3 * 60)
    assert account.alarm_states == {HIGH: "OK", LOW: "OK"}

    account.pending = {HIGH: "ALARM"}
    driver.run_until(3 * 60 + 10)  # between two evaluations
    assert [a.to_capacity for a in account.activities] == [3]
    assert account.activities[0].alarm_name == HIGH and account.read_service().desired_count == 3
    driver.run_until(4 * 60)  # the next evaluation: 45 % is not >= 70, back to OK; no second activity
    assert account.alarm_states[HIGH] == "OK" and (HIGH, "OK") in account.alarm_writes
    driver.run_until(8 * 60)
    assert len(account.activities) == 1


def test_no_scale_in_while_a_deployment_rolls_but_scale_out_goes_on() -> None:
    service = dataclasses.replace(_seed(), desired_count=4)
    driver = Driver(service, [0.2] * 4 + [6.0] * 6, task_start_seconds=400)  # low at first, then high
    driver.run_until(0)
    assert driver.loop.status is not None and not driver.loop.status.deployment_in_progress
    # update-service --force-new-deployment: a new PRIMARY deployment; its tasks take 60 s to start
    driver.account.service = dataclasses.replace(
        driver.account.service, primary_deployment_id="ecs-svc/0000000000000000002"
    )
    driver.run_until(4 * 60)
    assert driver.loop.scheduler.deployment_in_progress  # the new tasks take 400 s to start
    assert driver.account.alarm_states[LOW] == "ALARM"
    assert driver.account.activities == []  # the low alarm asked, and scale-in was paused
    driver.run_until(6 * 60)
    assert any(a.to_capacity > a.from_capacity for a in driver.account.activities)
    assert all(a.to_capacity >= a.from_capacity for a in driver.account.activities)


@pytest.mark.parametrize("force", [False, True])
async def test_stop_ends_every_task_and_the_loop(force: bool) -> None:
    service = _seed()
    clock = VirtualClock(start=0)
    loop, _, fleet, _ = simulated_loop(
        service, [0.5] * 10, clock, interval=1.0, options=Options(task_start_seconds=5)
    )
    running = asyncio.ensure_future(loop.run())
    for _ in range(30):
        await clock.advance(1.0)
        await asyncio.sleep(0)
    assert loop.status is not None and loop.status.running_count == 2
    loop.stop(force=force)
    for _ in range(120):
        if running.done():
            break
        await clock.advance(1.0)
        for _ in range(4):
            await asyncio.sleep(0)
    assert running.done() and running.exception() is None
    assert all(t.last_status == "STOPPED" for t in loop.status.tasks)
    assert fleet.reports() == {} or all(r.exited for r in fleet.reports().values())


def test_the_loop_is_the_same_object_live_and_in_simulate() -> None:
    """No second loop: `simulate` builds a ControlLoop (the class `chat-emulator up` runs)."""
    loop, *_ = simulated_loop(_seed(), [0.5], SteppedClock(0))
    assert type(loop) is ControlLoop


def test_a_tripped_circuit_breaker_rolls_the_service_back_through_the_account() -> None:
    """The breaker's Rollback reaches the account (even when the step that asks for it is followed by others in
    the same tick), the account starts a new PRIMARY of the last completed revision, and the loop rolls to it."""
    from emulator.model import DeploymentConfiguration
    from emulator.telemetry import CpuSample

    from .ecs.fleet import Behaviour, FakeFleet, scheduler

    good, bad = (f"arn:aws:ecs:us-east-1:123456789012:task-definition/chat:{n}" for n in (1, 2))
    seed = _seed()
    service = dataclasses.replace(
        seed,
        task_definition=dataclasses.replace(seed.task_definition, task_definition_arn=good),
        deployment_configuration=DeploymentConfiguration(200, 100, True, True),
    )

    class RollingBackAccount(MemoryAccount):
        def publish_service_status(self, status: Any, at: Any) -> None:
            if status.rollback is not None:  # what emulator.aws does: a new PRIMARY of that revision
                td = dataclasses.replace(
                    self.service.task_definition, task_definition_arn=status.rollback.task_definition_arn
                )
                self.service = dataclasses.replace(
                    self.service, primary_deployment_id="ecs-svc/3", task_definition=td
                )
            self.status = status

    class Hands:
        def __init__(self, clock: SteppedClock) -> None:
            self.clock, self.fleet = clock, FakeFleet({bad: Behaviour(start_error="boom", start_seconds=1)})

        def execute(self, command: Any) -> None:
            self.fleet.execute(command, self.clock.time)

        def reports(self) -> Any:
            self.fleet.now = self.clock.time
            return self.fleet.reports()

        def targets(self) -> Any:
            self.fleet.now = self.clock.time
            return self.fleet.targets()

        def target_health(self) -> tuple[()]:
            return ()

    idle = type("Idle", (), {"sample": lambda self: CpuSample([], 60.0)})()
    clock, account = SteppedClock(0.0), RollingBackAccount(service)
    loop = ControlLoop(clock, account, Hands(clock), idle, autoscaling=False, scheduler=scheduler())
    for t in range(30):
        clock.time = float(t)
        loop.tick(clock.time)
    first = account.read_service().primary_deployment_id
    bad_td = dataclasses.replace(account.service.task_definition, task_definition_arn=bad)
    account.service = dataclasses.replace(
        account.service, primary_deployment_id="ecs-svc/2", task_definition=bad_td
    )
    for t in range(30, 150):
        clock.time = float(t)
        loop.tick(clock.time)
    assert account.status is not None
    states = {d.deployment_id: d.rollout_state for d in account.status.deployments}
    assert account.read_service().task_definition.task_definition_arn == good
    assert states == {"ecs-svc/3": "COMPLETED"} and first != "ecs-svc/3"
    running = [t for t in account.status.tasks if t.last_status == "RUNNING"]
    assert len(running) == 2 and {t.task_definition_arn for t in running} == {good}


async def test_an_account_that_cannot_be_read_neither_spins_the_loop_nor_blocks_the_shutdown() -> None:
    """`ecs delete-service` under a running emulator: every read fails; the loop logs, ticks once per interval with
    the last service it read, and a stop still ends every task."""
    clock = VirtualClock(start=0)
    loop, account, _, _ = simulated_loop(
        _seed(), [0.5] * 10, clock, interval=1.0, options=Options(task_start_seconds=5)
    )
    running = asyncio.ensure_future(loop.run())
    for _ in range(20):
        await clock.advance(1.0)
        await asyncio.sleep(0)
    reads = 0

    def gone() -> ServiceDescription:
        nonlocal reads
        reads += 1
        raise RuntimeError("ServiceNotFoundException")

    account.read_service = gone  # type: ignore[method-assign]
    for _ in range(120):  # two minute boundaries, whose evaluations fail
        await clock.advance(1.0)
        for _ in range(4):
            await asyncio.sleep(0)
    assert 100 <= reads <= 400  # about one read per tick, one tick per second: no tight loop
    loop.stop()
    for _ in range(120):
        if running.done():
            break
        await clock.advance(1.0)
        for _ in range(4):
            await asyncio.sleep(0)
    assert running.done() and loop.scheduler.done

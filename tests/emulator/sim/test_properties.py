"""Hypothesis: for any load, desired stays in [min, max], no scale-in inside a scale-in cooldown, and every
scaling activity was caused by an alarm in ALARM."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.model import ServiceDescription, StepAdjustment, TargetTrackingPolicy
from emulator.sim.run import simulate

from .conftest import build_seed_service

loads = st.lists(st.floats(min_value=0, max_value=20, allow_nan=False), min_size=1, max_size=240)


def variants() -> st.SearchStrategy[ServiceDescription]:
    seed = build_seed_service()
    assert seed.scalable_target is not None
    up, down = seed.step_policies
    cooldowns = st.sampled_from([0, 60, 120, 300])
    step = st.builds(
        lambda c_up, c_down, lo, hi, pct: replace(
            seed,
            scalable_target=replace(seed.scalable_target, min_capacity=lo, max_capacity=hi),  # type: ignore[type-var]
            desired_count=lo,
            step_policies=(
                replace(up, cooldown=c_up),
                replace(
                    down,
                    cooldown=c_down,
                    adjustment_type="PercentChangeInCapacity" if pct else "ChangeInCapacity",
                    step_adjustments=(StepAdjustment(-50 if pct else -1, None, 0),),
                ),
            ),
        ),
        cooldowns,
        cooldowns,
        st.integers(1, 3),
        st.integers(3, 12),
        st.booleans(),
    )
    tracking = st.builds(
        lambda target, c_in: replace(
            seed,
            step_policies=(),
            alarms=(),
            target_tracking_policies=(TargetTrackingPolicy("tt", "arn:tt", target, scale_in_cooldown=c_in),),
        ),
        st.sampled_from([30.0, 50.0, 75.0]),
        cooldowns,
    )
    return st.one_of(step, tracking)


@settings(max_examples=60, deadline=None)
@given(service=variants(), demand=loads)
def test_scaling_invariants(service: ServiceDescription, demand: list[float]) -> None:
    target = service.scalable_target
    assert target is not None
    sim = simulate(service, demand)
    cooldown_ends = -1.0
    for row in sim.rows:
        assert target.min_capacity <= row.desired <= target.max_capacity
        activity = row.activity
        if activity is None:
            continue
        end_of_minute = row.minute * 60 + 60
        assert activity.time == end_of_minute
        high, low = sim.high_alarm, sim.low_alarm
        states = {a.alarm_name: s for a, s in ((high, row.alarm_high), (low, row.alarm_low)) if a is not None}
        assert states[activity.cause] == "ALARM"
        if activity.to_capacity < activity.from_capacity:
            assert activity.time >= cooldown_ends, "scale-in inside a scale-in cooldown"
            policy = next(
                p
                for p in (*service.step_policies, *service.target_tracking_policies)
                if p.policy_name == activity.policy_name
            )
            cooldown = policy.cooldown if hasattr(policy, "cooldown") else policy.scale_in_cooldown  # type: ignore[union-attr]
            cooldown_ends = activity.time + cooldown
        else:
            cooldown_ends = -1.0  # a scale-out cancels the scale-in cooldown

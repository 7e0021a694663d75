"""One evaluation of the control plane: alarms -> policies -> a new desired count (reference 1, 2, 3).

`evaluate(...)` is what both the live autoscaler and the simulator call once a minute. State goes in
and comes out: `ScalingState` holds the alarm states and the cooldown bookkeeping of the scalable
target; the result lists the alarm evaluations and the scaling activity, if any.

`act_on_alarm(...)` is CloudWatch's SetAlarmState, AWS's documented way to test a policy (reference
1.12): the alarm goes to the state set; when that is ALARM and was not already, its policies run once,
at once, under the same rules; the next `evaluate` returns the alarm to its real state from the data.

Rules applied by `decide` (reference 2.6-2.11, 3.3-3.5):
- the base capacity is the running count; desired < MinCapacity or > MaxCapacity is first moved to the
  bound by a policy of the matching direction, while a policy of the other direction does nothing;
- the largest capacity asked for wins; scale-out beats scale-in;
- scale-out inside a scale-out cooldown: `max(desired, cooldown base + adjustment)` for
  ChangeInCapacity and PercentChangeInCapacity (the adjustment computed from the running count);
  `max(desired, capacity asked for)` for ExactCapacity and target tracking, whose capacity is absolute;
- scale-in is blocked inside a scale-in cooldown, while DynamicScalingInSuspended, or during a
  deployment; a scale-out cancels the scale-in cooldown;
- target-tracking scale-in only when every tracking policy with scale-in enabled asks for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from emulator.model import AlarmState, ScalableTarget
from emulator.scaling.alarms import INITIAL_STATE, AlarmEvaluation, evaluate_alarm
from emulator.scaling.metrics import MetricStore
from emulator.scaling.policies import ControlPlan, Proposal, proposals


@dataclass(frozen=True)
class Cooldown:
    until: float
    base: int  # the capacity the activity that started it was computed from

    def active(self, now: float) -> bool:
        return now < self.until


@dataclass(frozen=True)
class ScalingActivity:
    time: float
    cause: str  # the alarm in ALARM whose policy ran
    policy_name: str
    from_capacity: int
    to_capacity: int

    @property
    def description(self) -> str:
        """Short form for timelines: `+2 ScaleUpPolicy`."""
        return f"{self.to_capacity - self.from_capacity:+d} {self.policy_name}"


@dataclass(frozen=True)
class ScalingState:
    alarm_states: Mapping[str, AlarmState] = field(default_factory=dict)
    scale_out_cooldown: Cooldown | None = None
    scale_in_cooldown: Cooldown | None = None

    def alarm_state(self, name: str) -> AlarmState:
        return self.alarm_states.get(name, INITIAL_STATE)


@dataclass(frozen=True)
class Situation:
    """What the service looks like when the policies run."""

    now: float
    desired: int
    running: int
    deployment_in_progress: bool = False


@dataclass(frozen=True)
class Evaluation:
    state: ScalingState
    evaluations: tuple[AlarmEvaluation, ...]
    desired: int
    activity: ScalingActivity | None


def evaluate(
    plan: ControlPlan,
    target: ScalableTarget | None,
    state: ScalingState,
    store: MetricStore,
    situation: Situation,
) -> Evaluation:
    """Evaluate every alarm at `situation.now`, then run the policies of the alarms in ALARM."""
    evaluations = tuple(
        evaluate_alarm(alarm, store, situation.now, state.alarm_state(alarm.alarm_name))
        for alarm in plan.alarms
    )
    alarm_states = {e.alarm_name: e.state for e in evaluations}
    state = replace(state, alarm_states=alarm_states)
    if target is None:
        return Evaluation(state, evaluations, situation.desired, None)
    base = _base_capacity(target, situation)
    asked = proposals(plan, evaluations, alarm_states, base)
    state, activity = decide(plan, target, state, situation, asked)
    desired = activity.to_capacity if activity else situation.desired
    return Evaluation(state, evaluations, desired, activity)


def act_on_alarm(
    plan: ControlPlan,
    target: ScalableTarget | None,
    state: ScalingState,
    situation: Situation,
    alarm_name: str,
    alarm_state: AlarmState,
    metric_value: float | None = None,
) -> Evaluation:
    """SetAlarmState on `alarm_name` at `situation.now` (reference 1.12).

    The returned state holds `alarm_state` for the alarm (the next `evaluate` replaces it with the state
    its data gives). When `alarm_state` is ALARM and the alarm was not in ALARM already ("when the updated
    state differs from the previous value, the action ... is invoked"), the policies in its AlarmActions
    run once, now, with the cooldowns, min/max and suspended states of any activity; a step policy picks
    its step from `metric_value` (the last datapoint of the StateReasonData), or from the alarm's
    threshold when there is none. OK, INSUFFICIENT_DATA, an alarm without policies or with its actions
    disabled, and an alarm that is not one of the plan's: no activity. `evaluations` is empty: this is
    not an evaluation, and the state's StateReason is the one the user gave."""
    if all(a.alarm_name != alarm_name for a in plan.alarms):
        return Evaluation(state, (), situation.desired, None)
    previous = state.alarm_state(alarm_name)
    state = replace(state, alarm_states={**state.alarm_states, alarm_name: alarm_state})
    if alarm_state != "ALARM" or previous == "ALARM" or target is None:
        return Evaluation(state, (), situation.desired, None)
    alarm = plan.alarm(alarm_name)
    value = alarm.threshold if metric_value is None else metric_value
    breach = AlarmEvaluation(
        alarm_name, "ALARM", previous, (value,), (value,), alarm.threshold, situation.now
    )
    asked = proposals(plan, [breach], {alarm_name: "ALARM"}, _base_capacity(target, situation))
    state, activity = decide(plan, target, state, situation, asked)
    return Evaluation(state, (), activity.to_capacity if activity else situation.desired, activity)


def _base_capacity(target: ScalableTarget, situation: Situation) -> int:
    """The running count, moved to a bound first when desired is outside [min, max] (reference 2.7)."""
    if situation.desired < target.min_capacity:
        return max(situation.running, target.min_capacity)
    if situation.desired > target.max_capacity:
        return min(situation.running, target.max_capacity)
    return situation.running


def decide(
    plan: ControlPlan,
    target: ScalableTarget,
    state: ScalingState,
    situation: Situation,
    asked: Sequence[Proposal],
) -> tuple[ScalingState, ScalingActivity | None]:
    out = _scale_out(target, state, situation, [p for p in asked if p.direction == "out"])
    if out is not None:
        return _after_scale_out(state, situation, out)
    scale_in = _scale_in(plan, target, state, situation, [p for p in asked if p.direction == "in"])
    if scale_in is not None:
        proposal, capacity = scale_in
        cooldown = Cooldown(situation.now + proposal.cooldown, proposal.base)
        activity = _activity(situation, proposal, capacity)
        return replace(state, scale_in_cooldown=cooldown, scale_out_cooldown=None), activity
    return state, None


def _clamp(capacity: int, target: ScalableTarget) -> int:
    return max(target.min_capacity, min(target.max_capacity, capacity))


def _scale_out(
    target: ScalableTarget, state: ScalingState, situation: Situation, asked: Sequence[Proposal]
) -> tuple[Proposal, int] | None:
    if not asked or target.dynamic_scaling_out_suspended or situation.desired > target.max_capacity:
        return None
    cooldown = state.scale_out_cooldown
    best: tuple[Proposal, int] | None = None
    for proposal in asked:
        capacity = proposal.capacity
        if cooldown is not None and cooldown.active(situation.now):
            asked_for = proposal.capacity if proposal.is_absolute else cooldown.base + proposal.adjustment
            capacity = max(situation.desired, asked_for)
        capacity = _clamp(capacity, target)
        if best is None or capacity > best[1]:
            best = (proposal, capacity)
    if best is None:
        return None
    floor = max(situation.desired, target.min_capacity)  # desired < min: first set desired to min
    if best[1] <= situation.desired and floor == situation.desired:
        return None
    return best[0], max(best[1], floor)


def _after_scale_out(
    state: ScalingState, situation: Situation, chosen: tuple[Proposal, int]
) -> tuple[ScalingState, ScalingActivity]:
    proposal, capacity = chosen
    previous = state.scale_out_cooldown
    base = previous.base if previous is not None and previous.active(situation.now) else proposal.base
    cooldown = Cooldown(situation.now + proposal.cooldown, base)
    return replace(state, scale_out_cooldown=cooldown, scale_in_cooldown=None), _activity(
        situation, proposal, capacity
    )


def _scale_in(
    plan: ControlPlan,
    target: ScalableTarget,
    state: ScalingState,
    situation: Situation,
    asked: Sequence[Proposal],
) -> tuple[Proposal, int] | None:
    blocked = (
        target.dynamic_scaling_in_suspended
        or situation.deployment_in_progress
        or situation.desired < target.min_capacity
        or (state.scale_in_cooldown is not None and state.scale_in_cooldown.active(situation.now))
    )
    if not asked or blocked:
        return None
    asked = _tracking_consensus(plan, asked)
    best: tuple[Proposal, int] | None = None
    for proposal in asked:
        capacity = _clamp(proposal.capacity, target)
        if best is None or capacity > best[1]:
            best = (proposal, capacity)
    if best is None or best[1] >= situation.desired:
        return None
    return best


def _tracking_consensus(plan: ControlPlan, asked: Sequence[Proposal]) -> list[Proposal]:
    """Tracking scale-in needs every tracking policy with scale-in enabled to ask (reference 3.5)."""
    enabled = {p.policy_arn for p in plan.tracking_policies() if not p.disable_scale_in}
    asking = {p.policy.policy_arn for p in asked if p.is_target_tracking}
    if enabled <= asking:
        return list(asked)
    return [p for p in asked if not p.is_target_tracking]


def _activity(situation: Situation, proposal: Proposal, capacity: int) -> ScalingActivity:
    return ScalingActivity(
        time=situation.now,
        cause=proposal.alarm_name,
        policy_name=proposal.policy.policy_name,
        from_capacity=situation.desired,
        to_capacity=capacity,
    )

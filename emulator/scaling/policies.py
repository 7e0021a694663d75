"""Which policy each alarm runs, and what capacity each asks for (reference 1.10, 2, 3).

A `ControlPlan` binds the service's alarms (its own, plus the alarms AAS manages for each target
tracking policy) to the policies in their AlarmActions. While an alarm is in ALARM its policies are
called on every evaluation (every minute), each giving a `Proposal`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from emulator.model import (
    AlarmState,
    MetricAlarm,
    ServiceDescription,
    StepScalingPolicy,
    TargetTrackingPolicy,
)
from emulator.scaling.alarms import AlarmEvaluation
from emulator.scaling.step import step_policy_capacity
from emulator.scaling.target_tracking import (
    is_high_alarm,
    managed_alarms,
    measured_tasks,
    tracking_capacity,
)

Policy = StepScalingPolicy | TargetTrackingPolicy
Direction = Literal["out", "in"]


@dataclass(frozen=True)
class Proposal:
    """One policy call: `capacity` asked for, computed from `base` (the running count)."""

    alarm_name: str
    policy: Policy
    base: int
    capacity: int

    @property
    def direction(self) -> Direction | None:
        if self.capacity > self.base:
            return "out"
        if self.capacity < self.base:
            return "in"
        return None

    @property
    def adjustment(self) -> int:
        """The change asked for, relative to `base`."""
        return self.capacity - self.base

    @property
    def cooldown(self) -> int:
        if isinstance(self.policy, StepScalingPolicy):
            return self.policy.cooldown
        return self.policy.scale_out_cooldown if self.direction == "out" else self.policy.scale_in_cooldown

    @property
    def is_target_tracking(self) -> bool:
        return isinstance(self.policy, TargetTrackingPolicy)

    @property
    def is_absolute(self) -> bool:
        """`capacity` is the capacity asked for, not `base` + an adjustment: an ExactCapacity step, or
        target tracking's proportional capacity (`target_tracking`)."""
        if isinstance(self.policy, StepScalingPolicy):
            return self.policy.adjustment_type == "ExactCapacity"
        return True


def triggers(action: str, policy: Policy) -> bool:
    """An alarm action names a policy by ARN (managed alarms add `:createdBy/<uuid>`)."""
    return action == policy.policy_arn or action.startswith(policy.policy_arn + ":createdBy/")


@dataclass(frozen=True)
class ControlPlan:
    alarms: tuple[MetricAlarm, ...]
    bindings: Mapping[str, tuple[Policy, ...]]  # alarm name -> policies in its AlarmActions

    @staticmethod
    def of(service: ServiceDescription) -> ControlPlan:
        policies: tuple[Policy, ...] = (*service.step_policies, *service.target_tracking_policies)
        tracking = service.target_tracking_policies
        deployed_managed = [
            a for a in service.alarms if any(triggers(x, t) for t in tracking for x in a.alarm_actions)
        ]
        alarms = [a for a in service.alarms if a not in deployed_managed]
        for policy in tracking:
            alarms.extend(_with_deployed_names(managed_alarms(policy, service), policy, deployed_managed))
        bindings = {
            alarm.alarm_name: tuple(p for p in policies if any(triggers(a, p) for a in alarm.alarm_actions))
            for alarm in alarms
        }
        return ControlPlan(tuple(alarms), bindings)

    def alarm(self, name: str) -> MetricAlarm:
        return next(a for a in self.alarms if a.alarm_name == name)

    def tracking_policies(self) -> tuple[TargetTrackingPolicy, ...]:
        found = {
            p.policy_arn: p
            for ps in self.bindings.values()
            for p in ps
            if isinstance(p, TargetTrackingPolicy)
        }
        return tuple(found.values())


def _with_deployed_names(
    derived: Sequence[MetricAlarm], policy: TargetTrackingPolicy, deployed: Sequence[MetricAlarm]
) -> list[MetricAlarm]:
    """Keep the names and actions of the managed alarms already in the account (moto creates them with a
    wrong threshold, reference 6c), with AWS's thresholds and datapoints."""
    mine = [a for a in deployed if any(triggers(x, policy) for x in a.alarm_actions)]
    named: list[MetricAlarm] = []
    for alarm in derived:
        match = next((a for a in mine if is_high_alarm(a) == is_high_alarm(alarm)), None)
        named.append(
            alarm
            if match is None
            else replace(alarm, alarm_name=match.alarm_name, alarm_actions=match.alarm_actions)
        )
    return named


def proposals(
    plan: ControlPlan, evaluations: Sequence[AlarmEvaluation], states: Mapping[str, AlarmState], base: int
) -> list[Proposal]:
    """Every policy call this evaluation makes: one per policy of each alarm in ALARM."""
    found: list[Proposal] = []
    for evaluation in evaluations:
        alarm = plan.alarm(evaluation.alarm_name)
        if states.get(alarm.alarm_name) != "ALARM" or not alarm.actions_enabled:
            continue
        for policy in plan.bindings.get(alarm.alarm_name, ()):
            capacity = _policy_capacity(policy, alarm, evaluation, base)
            if capacity is not None:
                found.append(Proposal(alarm.alarm_name, policy, base, capacity))
    return found


def _policy_capacity(
    policy: Policy, alarm: MetricAlarm, evaluation: AlarmEvaluation, base: int
) -> int | None:
    if isinstance(policy, StepScalingPolicy):
        return step_policy_capacity(policy, evaluation.evaluated_values, alarm.threshold, base)
    tasks = measured_tasks(evaluation.evaluated_sample_counts, alarm.period)
    return tracking_capacity(policy, alarm, evaluation.evaluated_values, base, tasks)

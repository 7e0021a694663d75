"""SetAlarmState, AWS's documented way to test a scaling policy (reference 1.12): `act_on_alarm` runs the
alarm's policies once, now, under the usual rules, and the next evaluation returns the alarm to its real state."""

from __future__ import annotations

from dataclasses import replace

from emulator.model import AlarmState, ServiceDescription, TargetTrackingPolicy
from emulator.scaling import Evaluation, ScalingState, Situation, act_on_alarm, evaluate
from emulator.scaling.metrics import MetricStore, StatisticSet, metric_key
from emulator.scaling.policies import ControlPlan

KEY = metric_key("AWS/ECS", "CPUUtilization", (("ClusterName", "c"), ("ServiceName", "s")))


class Account:
    """The service at 2 running tasks, a CPU datum each minute, evaluations at each minute's end."""

    def __init__(self, service: ServiceDescription) -> None:
        self.service, self.plan = service, ControlPlan.of(service)
        self.store, self.state = MetricStore(), ScalingState()
        self.desired, self.now = service.desired_count, 0.0

    def minute(self, cpu: float) -> Evaluation:
        self.store.put(KEY, self.now, StatisticSet(self.desired, cpu * self.desired, cpu, cpu))
        self.now += 60
        return self._apply(
            evaluate(self.plan, self.service.scalable_target, self.state, self.store, self._now())
        )

    def set_alarm_state(self, alarm: str, state: AlarmState, value: float | None = None) -> Evaluation:
        self.now += 5  # seconds after the last evaluation
        target = self.service.scalable_target
        return self._apply(act_on_alarm(self.plan, target, self.state, self._now(), alarm, state, value))

    def _now(self) -> Situation:
        return Situation(self.now, self.desired, self.desired)

    def _apply(self, result: Evaluation) -> Evaluation:
        self.state, self.desired = result.state, result.desired
        return result


def settled(service: ServiceDescription, cpu: float = 50) -> Account:
    account = Account(service)
    assert account.minute(cpu).activity is None
    return account


def test_alarm_runs_its_policy_once_and_the_next_evaluation_returns_it_to_its_real_state(
    seed_service: ServiceDescription,
) -> None:
    account = settled(seed_service)
    assert account.state.alarm_state("high-cpu") == "OK"
    result = account.set_alarm_state("high-cpu", "ALARM", 90)  # delta 20: the +2 step
    assert result.activity is not None
    assert (result.activity.cause, result.activity.description) == ("high-cpu", "+2 ScaleUpPolicy")
    assert (result.desired, account.state.alarm_state("high-cpu")) == (4, "ALARM")
    assert result.evaluations == ()
    back = account.minute(50)
    assert account.state.alarm_state("high-cpu") == "OK"
    assert back.activity is None and back.desired == 4
    assert [e.alarm_name for e in back.evaluations if e.changed] == ["high-cpu"]


def test_without_a_datapoint_the_step_is_picked_at_the_threshold(seed_service: ServiceDescription) -> None:
    account = settled(seed_service)
    result = account.set_alarm_state("high-cpu", "ALARM")  # 70: delta 0, the [0, 15) step
    assert result.activity is not None and result.activity.description == "+1 ScaleUpPolicy"


def test_ok_and_insufficient_data_run_nothing(seed_service: ServiceDescription) -> None:
    account = Account(replace(seed_service, desired_count=5))
    assert account.minute(5).desired == 4  # low-cpu in ALARM: -1
    account.state = replace(account.state, scale_in_cooldown=None)
    states: tuple[AlarmState, ...] = ("OK", "INSUFFICIENT_DATA")
    for state in states:
        result = account.set_alarm_state("low-cpu", state, 5)
        assert result.activity is None and result.desired == 4
        assert account.state.alarm_state("low-cpu") == state


def test_an_alarm_already_in_alarm_does_not_run_again(seed_service: ServiceDescription) -> None:
    policies = tuple(replace(p, cooldown=0) for p in seed_service.step_policies)
    account = Account(replace(seed_service, step_policies=policies))
    assert account.minute(75).desired == 3  # high-cpu in ALARM, +1
    assert account.set_alarm_state("high-cpu", "ALARM", 100).activity is None


def test_cooldowns_apply_as_for_any_activity(seed_service: ServiceDescription) -> None:
    policies = tuple(replace(p, cooldown=300) for p in seed_service.step_policies)
    account = settled(replace(seed_service, step_policies=policies))
    assert account.set_alarm_state("high-cpu", "ALARM", 90).desired == 4
    account.minute(50)  # back to OK, inside the scale-out cooldown of base 2
    again = account.set_alarm_state("high-cpu", "ALARM", 100)  # +3 from the base 2: +1
    assert again.activity is not None and again.activity.description == "+1 ScaleUpPolicy"
    assert account.set_alarm_state("low-cpu", "ALARM", 5).desired == 4  # -1: not blocked by a scale-out
    account.minute(50)
    assert account.set_alarm_state("low-cpu", "ALARM", 5).activity is None  # inside the scale-in cooldown


def test_min_max_and_suspended_states_apply(seed_service: ServiceDescription) -> None:
    assert seed_service.scalable_target is not None
    at_max = settled(replace(seed_service, desired_count=10))
    assert at_max.set_alarm_state("high-cpu", "ALARM", 100).activity is None
    suspended = replace(seed_service.scalable_target, dynamic_scaling_out_suspended=True)
    account = settled(replace(seed_service, scalable_target=suspended))
    assert account.set_alarm_state("high-cpu", "ALARM", 100).activity is None
    assert account.state.alarm_state("high-cpu") == "ALARM"


def test_alarms_without_policies_or_actions_or_unknown_run_nothing(seed_service: ServiceDescription) -> None:
    sns = replace(seed_service.alarms[0], alarm_name="notify", alarm_actions=("arn:aws:sns:us-east-1:1:t",))
    disabled = replace(seed_service.alarms[0], alarm_name="disabled", actions_enabled=False)
    account = settled(replace(seed_service, alarms=(*seed_service.alarms, sns, disabled)))
    for name in ("notify", "disabled"):
        result = account.set_alarm_state(name, "ALARM", 100)
        assert result.activity is None and account.state.alarm_state(name) == "ALARM"
    before = account.state
    unknown = account.set_alarm_state("no-such-alarm", "ALARM", 100)
    assert unknown.activity is None and unknown.state == before


def test_a_target_tracking_alarm_asks_for_the_proportional_capacity(seed_service: ServiceDescription) -> None:
    policy = TargetTrackingPolicy("cpu-target", "arn:tt", target_value=50)
    service = replace(seed_service, step_policies=(), alarms=(), target_tracking_policies=(policy,))
    account = settled(service, cpu=40)
    high = next(a.alarm_name for a in account.plan.alarms if "AlarmHigh" in a.alarm_name)
    result = account.set_alarm_state(high, "ALARM", 100)
    assert result.activity is not None and result.desired == 4  # ceil(2 x 100 / 50)

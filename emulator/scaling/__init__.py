"""Pure control-plane decisions: CloudWatch alarms, Application Auto Scaling, ECS's deployment arithmetic.

Stdlib and `emulator.model` only; no asyncio, no I/O (import-linter enforces it). State goes in and
comes out, so the live autoscaler and the simulator run exactly the same code.

Map of the package (reference = shared/reference/aws-scaling-semantics.md):

- `metrics`          StatisticSet datapoints, MetricStore, the statistics of a period (1.4)
- `alarms`           M of N, comparison operators, TreatMissingData over an N+2 evaluation range (1.5-1.9)
- `step`             breach delta, interval membership, the three adjustment types and rounding (2.1-2.5)
- `target_tracking`  the AlarmHigh / AlarmLow alarms AAS manages, and the capacity formula (3)
- `policies`         ControlPlan (alarm -> policies in its AlarmActions) and each policy's Proposal
- `engine`           one evaluation: alarms, then policies with min/max, cooldowns, suspension (2.6-2.11);
                     `act_on_alarm`, SetAlarmState: the alarm's policies run once, now (1.12)
- `reconcile`        ECS's rounding of MaximumPercent / MinimumHealthyPercent (4.5); the scheduler is `emulator.ecs`
"""

from __future__ import annotations

from emulator.scaling.alarms import AlarmEvaluation, evaluate_alarm, evaluate_slots
from emulator.scaling.engine import (
    Evaluation,
    ScalingActivity,
    ScalingState,
    Situation,
    act_on_alarm,
    evaluate,
)
from emulator.scaling.metrics import MetricStore, StatisticSet, alarm_metric_key, metric_key
from emulator.scaling.policies import ControlPlan

__all__ = [
    "AlarmEvaluation",
    "ControlPlan",
    "Evaluation",
    "MetricStore",
    "ScalingActivity",
    "ScalingState",
    "Situation",
    "StatisticSet",
    "act_on_alarm",
    "alarm_metric_key",
    "evaluate",
    "evaluate_alarm",
    "evaluate_slots",
    "metric_key",
]

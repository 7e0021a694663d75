"""The control loop: one Autoscaler and one ECS service scheduler on a Clock, over the emulated account.

(Being written: this header states the contract the account implements.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from emulator.ecs.model import ServiceStatus
from emulator.model import ServiceDescription


class Account(Protocol):
    """What the control loop reads and writes each tick: the one store of control-plane state.

    `emulator.aws.EmulatedAccount` implements it over moto (live and `chat-emulator deploy`'s account);
    nothing else keeps a copy of desired count, min/max, policies or alarms between ticks.
    """

    def read_service(self) -> ServiceDescription:
        """The service as the account holds it now: desired count, PRIMARY deployment and its task definition,
        deployment configuration, scalable target, policies, alarms. Cheap when nothing changed through the
        API since the last call; reflects every API write (update-service, register-scalable-target,
        put-scaling-policy, put-metric-alarm, ...) on the next call."""
        ...

    def set_desired_count(self, n: int) -> None:
        """What Application Auto Scaling does to the ECS service (not an API call of the user's)."""
        ...

    def put_cpu_utilization(self, per_task_percent: Sequence[float], timestamp: datetime) -> None:
        """One AWS/ECS CPUUtilization datum (SampleCount/Sum/Min/Max over the tasks)."""
        ...

    def set_alarm_state(
        self, alarm_name: str, state: str, reason: str, reason_data: Mapping[str, Any], timestamp: datetime
    ) -> None:
        """CloudWatch's own evaluation result: state, StateReason, StateReasonData, and a history item."""
        ...

    def take_alarm_overrides(self) -> dict[str, str]:
        """{alarm name: state} set by a user's SetAlarmState since the last call (each reported once)."""
        ...

    def record_scaling_activity(
        self, policy_name: str, alarm_name: str, from_capacity: int, to_capacity: int, timestamp: datetime
    ) -> None:
        """One DescribeScalingActivities entry, worded as Application Auto Scaling words it."""
        ...

    def publish_service_status(self, status: ServiceStatus, at: Callable[[float], datetime]) -> None:
        """Counts, deployments (rolloutState, counts), tasks and events, as DescribeServices / ListTasks /
        DescribeTasks answer them; applies `status.rollback`. `at` turns clock seconds into datetimes."""
        ...

    def publish_target_health(
        self, target_group_arn: str, targets: Sequence[tuple[str, int, str, str | None, str]]
    ) -> None:
        """DescribeTargetHealth's answer: (target id, port, state, reason code, description) per target."""
        ...

"""The account `simulate` runs against: the deployed service's description, held in memory.

`chat-emulator simulate` deploys the templates into moto once and reads the service back; the control loop then
runs against this account, which holds the desired count the autoscaler writes, the alarm states, the metric data,
the scaling activities and the scheduler's last status — the same `emulator.controller.Account` contract the
live emulator's moto account meets, without a boto3 round trip per tick (that is what keeps days of load at a
few seconds). Nothing changes it from outside during a simulation, so there are no SetAlarmState overrides and no
StopTask requests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.ecs.model import ServiceStatus
from emulator.model import ServiceDescription
from emulator.scaling.metrics import MetricKey, StatisticSet

FIRST_DEPLOYMENT_ID = "ecs-svc/0000000000000000001"


@dataclass(frozen=True)
class ActivityRecord:
    policy_name: str
    alarm_name: str
    from_capacity: int
    to_capacity: int
    timestamp: datetime


@dataclass
class MemoryAccount:
    """An `Account` over one `ServiceDescription`."""

    service: ServiceDescription
    metrics: dict[MetricKey, dict[datetime, float]] = field(default_factory=dict)  # minute start -> Average
    alarm_states: dict[str, str] = field(default_factory=dict)
    activities: list[ActivityRecord] = field(default_factory=list)
    status: ServiceStatus | None = None
    deployments: int = 1

    def __post_init__(self) -> None:
        if not self.service.primary_deployment_id:
            self.service = dataclasses.replace(self.service, primary_deployment_id=FIRST_DEPLOYMENT_ID)

    def read_service(self) -> ServiceDescription:
        return self.service

    def set_desired_count(self, n: int) -> None:
        if n != self.service.desired_count:
            self.service = dataclasses.replace(self.service, desired_count=n)

    def put_metric(self, key: MetricKey, datum: StatisticSet, timestamp: datetime, unit: str) -> None:
        self.metrics.setdefault(key, {})[timestamp] = datum.statistic("Average")

    def average(self, key: MetricKey | None, timestamp: datetime) -> float | None:
        """The Average of metric `key` over the minute starting at `timestamp` (None: no datum)."""
        return None if key is None else self.metrics.get(key, {}).get(timestamp)

    def set_alarm_state(
        self, alarm_name: str, state: str, reason: str, reason_data: Mapping[str, Any], timestamp: datetime
    ) -> None:
        self.alarm_states[alarm_name] = state

    def take_alarm_overrides(self) -> dict[str, str]:
        return {}

    def take_stop_requests(self) -> list[tuple[str, str]]:
        return []

    def record_scaling_activity(
        self, policy_name: str, alarm_name: str, from_capacity: int, to_capacity: int, timestamp: datetime
    ) -> None:
        self.activities.append(ActivityRecord(policy_name, alarm_name, from_capacity, to_capacity, timestamp))

    def publish_service_status(self, status: ServiceStatus, at: Callable[[float], datetime]) -> None:
        self.status = status
        if status.rollback is not None:  # one task definition in a simulation: roll back to it
            self.deployments += 1
            deployment_id = f"ecs-svc/{self.deployments:019d}"
            self.service = dataclasses.replace(self.service, primary_deployment_id=deployment_id)

    def publish_target_health(
        self, target_group_arn: str, targets: Sequence[tuple[str, int, str, str | None, str]]
    ) -> None:
        return None

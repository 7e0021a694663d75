"""Application Auto Scaling DescribeScalingActivities, which moto 5.2.5 lacks (NotImplementedError -> HTTP 500).

The control loop records each scaling activity it performs (`record`); DescribeScalingActivities answers them
as AWS words them (Application Auto Scaling API reference, ScalingActivity; user guide "Scaling activities for
Application Auto Scaling"): Description "Setting desired count to N.", Cause "monitor alarm <alarm> in state
ALARM triggered policy <policy>", StatusCode "Successful", StatusMessage "Successfully set desired count to N.
Change successfully fulfilled by ecs.", newest first, filtered by ResourceId and ScalableDimension, MaxResults
(at most 50) with NextToken paging.

Activities live on moto's ApplicationAutoscalingBackend (a moto reset drops them), under `dispatch.LOCK`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

from emulator.aws._moto_ext.base import kept_on

MAX_ACTIVITIES = 10_000
_ATTR = "emulator_scaling_activities"
MAX_RESULTS = 50


def record(
    backend: ApplicationAutoscalingBackend,
    resource_id: str,
    policy_name: str,
    alarm_name: str,
    to_capacity: int,
    timestamp: datetime,
    service_namespace: str = "ecs",
    scalable_dimension: str = "ecs:service:DesiredCount",
) -> dict[str, Any]:
    """One successful activity: the policy set the desired count to `to_capacity` at `timestamp`."""
    activity = {
        "ActivityId": str(uuid.uuid4()),
        "ServiceNamespace": service_namespace,
        "ResourceId": resource_id,
        "ScalableDimension": scalable_dimension,
        "Description": f"Setting desired count to {to_capacity}.",
        "Cause": f"monitor alarm {alarm_name} in state ALARM triggered policy {policy_name}",
        "StartTime": timestamp.timestamp(),
        "EndTime": timestamp.timestamp(),
        "StatusCode": "Successful",
        "StatusMessage": f"Successfully set desired count to {to_capacity}. Change successfully fulfilled by ecs.",
    }
    kept = activities(backend)
    kept.insert(0, activity)
    del kept[MAX_ACTIVITIES:]  # AWS keeps six weeks; a long run keeps the newest
    return activity


def activities(backend: ApplicationAutoscalingBackend) -> list[dict[str, Any]]:
    """Newest first."""
    found: list[dict[str, Any]] = kept_on(backend, _ATTR, list)
    return found


def describe(
    backend: ApplicationAutoscalingBackend,
    service_namespace: str,
    resource_id: str | None,
    scalable_dimension: str | None,
    max_results: int | None,
    next_token: str | None,
) -> dict[str, Any]:
    if max_results is not None and not 1 <= max_results <= MAX_RESULTS:
        raise AWSValidationException(
            f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value less than or equal to {MAX_RESULTS}"
        )
    chosen = [
        a
        for a in activities(backend)
        if a["ServiceNamespace"] == service_namespace
        and (not resource_id or a["ResourceId"] == resource_id)
        and (not scalable_dimension or a["ScalableDimension"] == scalable_dimension)
    ]
    start = int(next_token) if next_token and next_token.isdigit() else 0
    size = max_results or MAX_RESULTS
    page = chosen[start : start + size]
    response: dict[str, Any] = {"ScalingActivities": page}
    if start + size < len(chosen):
        response["NextToken"] = str(start + size)
    return response


def patch_responses() -> None:
    """Add DescribeScalingActivities to moto's Application Auto Scaling responses (idempotent)."""

    def describe_scaling_activities(self: ApplicationAutoScalingResponse) -> str:
        self._validate_params()
        return json.dumps(
            describe(
                self.applicationautoscaling_backend,
                self._get_param("ServiceNamespace"),
                self._get_param("ResourceId"),
                self._get_param("ScalableDimension"),
                self._get_int_param("MaxResults"),
                self._get_param("NextToken"),
            )
        )

    ApplicationAutoScalingResponse.describe_scaling_activities = describe_scaling_activities  # type: ignore[attr-defined]

"""ELBv2 DescribeTargetHealth answered from the target health the emulator's ALB publishes (moto 5.2.5).

moto calls every registered target `healthy` with no reason and forgets a deregistered one at once (§6e).
Once the emulator publishes a target group's health, DescribeTargetHealth answers it instead, in AWS's codes
(ELBv2 API reference, TargetHealth; ALB guide "Health checks for Application Load Balancer target groups"):
initial (Elb.RegistrationInProgress, Elb.InitialHealthChecking), healthy (no reason), unhealthy (Target.*),
draining (Target.DeregistrationInProgress), and for a queried target that is not registered
unused / Target.NotRegistered. HealthCheckPort is the target group's, or the target's port for traffic-port.

The published list lives on moto's FakeTargetGroup (a moto reset drops it), under `dispatch.LOCK`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from moto.core.responses import ActionResult
from moto.elbv2.models import FakeTargetGroup
from moto.elbv2.responses import ELBV2Response

PublishedTarget = tuple[str, int, str, str | None, str]  # (id, port, state, reason code, description)

_ATTR = "emulator_target_health"

# AWS's descriptions for its reason codes, used when the publisher gives none.
DESCRIPTIONS = {
    "Elb.RegistrationInProgress": "Target registration is in progress",
    "Elb.InitialHealthChecking": "Initial health checks in progress",
    "Target.ResponseCodeMismatch": "Health checks failed with these codes: [503]",
    "Target.Timeout": "Request timed out",
    "Target.FailedHealthChecks": "Health checks failed",
    "Target.NotRegistered": "Target is not registered to the target group",
    "Target.NotInUse": "Target group is not configured to receive traffic from the load balancer",
    "Target.DeregistrationInProgress": "Target deregistration is in progress",
    "Target.InvalidState": "Target is in the stopped or terminated state",
    "Target.HealthCheckDisabled": "Health checks are disabled",
}


def publish(target_group: FakeTargetGroup, targets: Sequence[PublishedTarget]) -> None:
    setattr(target_group, _ATTR, tuple(targets))


def describe(target_group: FakeTargetGroup, wanted: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """DescribeTargetHealth's descriptions, or None when nothing was published (moto answers)."""
    published: tuple[PublishedTarget, ...] | None = getattr(target_group, _ATTR, None)
    if published is None:
        return None
    if not wanted:
        return [_description(target_group, t) for t in published]
    answers: list[dict[str, Any]] = []
    for query in wanted:
        target_id, port = str(query["Id"]), query.get("Port")
        match = [t for t in published if t[0] == target_id and (port is None or t[1] == int(port))]
        if match:
            answers.extend(_description(target_group, t) for t in match)
        else:
            unknown = (target_id, int(port or target_group.port or 0), "unused", "Target.NotRegistered", "")
            answers.append(_description(target_group, unknown))
    return answers


def _description(target_group: FakeTargetGroup, target: PublishedTarget) -> dict[str, Any]:
    target_id, port, state, reason, description = target
    health: dict[str, Any] = {"State": state}
    if reason:
        health["Reason"] = reason
        health["Description"] = description or DESCRIPTIONS.get(reason, "")
    health_port = target_group.health_check_port
    description_of: dict[str, Any] = {
        "Target": {"Id": target_id, "Port": port},
        "TargetHealth": health,
    }
    if state != "unused":
        description_of["HealthCheckPort"] = (
            str(port) if health_port in (None, "traffic-port") else health_port
        )
    return description_of


def patch_responses() -> None:
    """DescribeTargetHealth answers the published health where there is one (idempotent)."""
    original = ELBV2Response.describe_target_health
    if getattr(original, "_emulator_patched", False):
        return

    @functools.wraps(original)
    def describe_target_health(self: ELBV2Response) -> ActionResult:
        target_group = self.elbv2_backend.target_groups.get(self._get_param("TargetGroupArn"))
        answers = None if target_group is None else describe(target_group, self._get_param("Targets", []))
        if answers is None:
            result: ActionResult = original(self)
            return result
        return ActionResult({"TargetHealthDescriptions": answers})

    describe_target_health._emulator_patched = True  # type: ignore[attr-defined]
    ELBV2Response.describe_target_health = describe_target_health  # type: ignore[method-assign]

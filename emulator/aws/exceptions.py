"""The few errors `emulator.aws` raises; botocore's `ClientError` is translated here, at the edge."""

from __future__ import annotations

from collections.abc import Sequence


class AwsError(Exception):
    """Base of every error raised by `emulator.aws`."""


class TemplateError(AwsError):
    """A template or a parameter is wrong before anything is deployed (the message names it)."""


class StepAdjustmentError(TemplateError):
    """A step scaling policy's adjustments break AWS's rules: gaps, overlaps or bad null bounds."""


class StackDeployError(AwsError):
    """A stack failed to create or update; `events` are the stack's own failure reasons."""

    def __init__(self, stack_name: str, message: str, events: Sequence[str] = ()) -> None:
        detail = "".join(f"\n  {event}" for event in events)
        super().__init__(f"stack {stack_name}: {message}{detail}")
        self.stack_name = stack_name
        self.events = tuple(events)


class ServiceNotFound(AwsError):
    """The cluster has no such ECS service (or it has no load balancer or task definition to read)."""

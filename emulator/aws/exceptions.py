"""The few errors `emulator.aws` raises; botocore's `ClientError` is translated here, at the edge."""

from __future__ import annotations

from collections.abc import Sequence


class AwsError(Exception):
    """Base of every error raised by `emulator.aws`."""


class TemplateError(AwsError):
    """A template or a parameter is wrong before anything is deployed (the message names it)."""


class ParameterError(TemplateError, ValueError):
    """A parameter value CloudFormation would refuse (`emulator.aws.parameters`), found before anything is deployed.

    The message is one line naming each parameter and the rule it breaks, e.g.
    "ScalingMode=Bogus: not one of the AllowedValues StepScaling, TargetTrackingScaling"."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class AwsSetupError(AwsError):
    """The user's AWS configuration lacks what a call needs (a region, credentials); the message says what to set."""


class NoRegion(AwsSetupError):
    """Neither the caller nor boto3's configuration names an AWS region."""

    def __init__(self) -> None:
        super().__init__(
            "no AWS region: pass --region or set AWS_DEFAULT_REGION (or a profile's region); "
            "the emulator's account is in us-east-1"
        )


class NoCredentials(AwsSetupError):
    """boto3 found no credentials (or only part of them, or an expired SSO session) to sign a request with."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "no AWS credentials"
            + (f" ({detail})" if detail else "")
            + ": set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE to a configured profile; "
            "for the emulator's endpoint any value works, e.g. AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
        )


class EndpointUnreachable(AwsError):
    """Nothing answers at the endpoint (`--endpoint-url` of an emulator that is not running, or no network)."""

    def __init__(self, endpoint_url: str) -> None:
        hint = (
            "check the network" if "amazonaws.com" in endpoint_url else "is `chat-emulator up` running there?"
        )
        super().__init__(f"nothing answers at {endpoint_url} ({hint})")
        self.endpoint_url = endpoint_url


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

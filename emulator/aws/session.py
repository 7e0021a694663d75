"""A CloudFormation client for AWS or for any endpoint, with boto3's own credential and region resolution.

Rooms outside `emulator.aws` never import boto3 (ARCHITECTURE.md, "Rooms and what each may import"):
`chat-emulator deploy` asks this module for its client instead.

AWS rules followed (boto3 guide, "Credentials" and "Configuration"): credentials come from boto3's default
chain (environment, shared credentials and config files, SSO, container and instance metadata); the region
is the one passed, else `AWS_DEFAULT_REGION`, else the profile's `region`. A regional service has no
default region: without one there is nothing to deploy to, so `NoRegion` is raised before any call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3

from emulator.aws.exceptions import AwsError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient


class NoRegion(AwsError):
    """Neither the caller nor boto3's configuration names an AWS region."""

    def __init__(self) -> None:
        super().__init__("no AWS region: pass --region or configure one (AWS_DEFAULT_REGION or a profile)")


def cloudformation_client(region: str | None = None, endpoint_url: str | None = None) -> CloudFormationClient:
    """A CloudFormation client in `region` (or boto3's configured one), at `endpoint_url` when given.

    Raises `NoRegion` when no region is passed or configured. Credentials are only looked up at the first
    call, as boto3 does, so a moto endpoint works with any (or fake) credentials."""
    session = boto3.session.Session(region_name=region)
    if session.region_name is None:
        raise NoRegion
    return session.client("cloudformation", endpoint_url=endpoint_url)

"""A CloudFormation client for AWS or for any endpoint, with boto3's own credential and region resolution.

Rooms outside `emulator.aws` never import boto3 (ARCHITECTURE.md, "Rooms and what each may import"):
`chat-emulator deploy` asks this module for its client instead.

AWS rules followed (boto3 guide, "Credentials" and "Configuration"): credentials come from boto3's default
chain (environment, shared credentials and config files, SSO, container and instance metadata); the region
is the one passed, else `AWS_DEFAULT_REGION`, else the profile's `region`. A regional service has no
default region: without one there is nothing to deploy to, so `NoRegion` is raised before any call.
botocore looks credentials up when a client is made and again when they expire: `aws_setup_errors()`
turns what it raises then (`NoCredentialsError`, `PartialCredentialsError`, an expired SSO session, a
profile that does not exist) into `NoCredentials`, and an endpoint that does not answer into
`EndpointUnreachable`, each one line saying what to do; this module and `emulator.aws.stacks` wrap
their boto3 calls in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import (
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from emulator.aws.exceptions import EndpointUnreachable, NoCredentials, NoRegion

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient


__all__ = ["NoRegion", "aws_setup_errors", "cloudformation_client"]


@contextmanager
def aws_setup_errors(endpoint_url: str | None = None) -> Iterator[None]:
    """botocore's credential and connection errors as one-line `NoCredentials` / `EndpointUnreachable`."""
    try:
        yield
    except NoCredentialsError:
        raise NoCredentials from None
    except (
        PartialCredentialsError,
        CredentialRetrievalError,
        SSOError,
        TokenRetrievalError,
        ProfileNotFound,
    ) as exc:
        raise NoCredentials(str(exc)) from None
    except EndpointConnectionError as exc:
        raise EndpointUnreachable(endpoint_url or str(exc.kwargs.get("endpoint_url", ""))) from None


def cloudformation_client(region: str | None = None, endpoint_url: str | None = None) -> CloudFormationClient:
    """A CloudFormation client in `region` (or boto3's configured one), at `endpoint_url` when given.

    Raises `NoRegion` when no region is passed or configured, `NoCredentials` when boto3 finds none, both
    before any request (a moto endpoint takes any, even fake, credentials)."""
    with aws_setup_errors(endpoint_url):
        session = boto3.session.Session(region_name=region)
        if session.region_name is None:
            raise NoRegion
        if session.get_credentials() is None:  # botocore caches them: the client below reuses this lookup
            raise NoCredentials
        return session.client("cloudformation", endpoint_url=endpoint_url)

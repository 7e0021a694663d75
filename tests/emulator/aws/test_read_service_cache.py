"""`EmulatedAccount.read_service()`: re-read through boto3 only after an API change, always current otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

import emulator.aws.account as account_module
from emulator.autoscaler import cpu_metric_key
from emulator.aws import EmulatedAccount, emulated_account
from emulator.aws.reader import read_service
from emulator.ecs.model import DeploymentState, ServiceStatus
from emulator.scaling.metrics import StatisticSet

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def served() -> Iterator[EmulatedAccount]:
    with emulated_account(server=True) as fresh:
        yield fresh


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each full read of the service (DescribeServices & co. through boto3) appends the service's name."""
    calls: list[str] = []

    def counting(clients: Any, cluster_name: str, service_name: str) -> Any:
        calls.append(service_name)
        return read_service(clients, cluster_name, service_name)

    monkeypatch.setattr(account_module, "read_service", counting)
    return calls


def user_client(account: EmulatedAccount, name: str) -> Any:
    """Another process's client (the AWS CLI, a script) of the same moto server."""
    return boto3.client(  # type: ignore[call-overload]
        name,
        endpoint_url=account.endpoint_url,
        region_name=account.region,
        aws_access_key_id="user",
        aws_secret_access_key="user",
    )


def test_an_unchanged_read_does_not_call_aws_and_the_loops_writes_are_no_changes(
    served: EmulatedAccount, reads: list[str]
) -> None:
    first = served.read_service()
    td, deployment = first.task_definition.task_definition_arn, first.primary_deployment_id
    ecs = user_client(served, "ecs")
    ecs.describe_services(cluster=served.cluster_name, services=["chat"])  # a user's read changes nothing

    served.set_desired_count(4)
    served.put_metric(cpu_metric_key(served.service), StatisticSet.of([50.0]), T0, "Percent")
    served.set_alarm_state("fargate-chat-service-high-cpu", "ALARM", "breach", {"version": "1.0"}, T0)
    served.record_scaling_activity("scale-up", "fargate-chat-service-high-cpu", 2, 4, T0)
    served.publish_target_health(
        first.target_group.target_group_arn, [("10.0.0.1", 3000, "healthy", None, "")]
    )
    state = DeploymentState(deployment, "PRIMARY", td, 4, 2, 2, 0, "IN_PROGRESS", "", 0.0, 1.0)
    served.publish_service_status(ServiceStatus(2, 2, (state,), (), ()), lambda s: T0)
    again = [served.read_service() for _ in range(100)]

    assert reads == []  # deploy read it; nothing since was an API change
    assert {(s.desired_count, s.primary_deployment_id) for s in again} == {(4, deployment)}
    assert again[0] is again[-1]  # cached, not rebuilt


def test_an_api_change_from_another_client_is_seen_on_the_next_read(
    served: EmulatedAccount, reads: list[str]
) -> None:
    served.read_service()
    aas = user_client(served, "application-autoscaling")

    aas.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=served.read_service().resource_id,
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=3,
        MaxCapacity=6,
    )
    after = served.read_service()
    served.read_service()

    assert reads == ["chat"]  # one re-read, for the change
    assert after.scalable_target is not None
    assert (after.scalable_target.min_capacity, after.scalable_target.max_capacity, after.desired_count) == (
        3,
        6,
        3,
    )


def test_a_user_update_service_is_seen_in_process_too(account: EmulatedAccount, reads: list[str]) -> None:
    before = account.read_service()

    account.client("ecs").update_service(
        cluster=account.cluster_name, service=account.service_name, forceNewDeployment=True
    )
    after = account.read_service()

    assert reads == ["chat"]
    assert after.primary_deployment_id != before.primary_deployment_id

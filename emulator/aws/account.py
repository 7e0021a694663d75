"""An emulated AWS account: moto (in-process or as a server) with the deployment's stacks in it.

`emulated_account()` installs the custom models, starts moto (`mock_aws`, or `ThreadedMotoServer` on a
free loopback port when `server=True`, so other processes and the AWS CLI share the account), points
ElastiCache at the emulator's Redis, deploys the three stacks in order and yields an `EmulatedAccount`:
the one door through which the emulator reads and writes the control and data plane. It implements the
control loop's `Account` contract (`emulator.controller`): `read_service()` (cached until an API change),
and the writes AWS itself makes, which the AWS API then answers (`_moto_ext`): DescribeServices' counts,
deployments and events, ListTasks / DescribeTasks, DescribeTargetHealth, DescribeScalingActivities,
DescribeAlarmHistory and the alarms' states.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from emulator.aws._moto_ext import (
    autoscaling_activities,
    cloudwatch_history,
    dispatch,
    ecs_deployments,
    ecs_tasks,
    elbv2_health,
    install,
    set_redis_endpoint,
)
from emulator.aws.exceptions import ParameterError
from emulator.aws.reader import read_service
from emulator.aws.stacks import Outputs, deploy_stacks
from emulator.aws.templates import DEFAULT_STACK_PREFIX, stack_plan
from emulator.ecs.model import ServiceStatus
from emulator.model import ServiceDescription
from emulator.scaling.metrics import MetricKey, StatisticSet

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
# moto accepts any credentials; fixed fake ones keep a user's real AWS credentials out of the emulator.
_FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class EmulatedAccount:
    """boto3 clients bound to the emulated account, plus the writes AWS itself would make.

    The control loop's writes (`set_desired_count`, `put_metric`, `set_alarm_state`,
    `record_scaling_activity`, `publish_service_status`, `publish_target_health`) go straight into moto's
    backends under `dispatch.LOCK`: they are no API calls, never count as API changes and never show as a
    user's actions. `read_service()` re-reads through boto3 only after an API change.
    """

    def __init__(
        self,
        templates_dir: Path | str | None,
        params: Mapping[str, object],
        endpoint_url: str | None,
        region: str = DEFAULT_REGION,
        stack_prefix: str = DEFAULT_STACK_PREFIX,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.stack_prefix = stack_prefix
        self.templates_dir = templates_dir
        self.params: dict[str, object] = dict(params)
        self.outputs: dict[str, Outputs] = {}
        self._clients: dict[str, Any] = {}
        self._account_id: str | None = None
        self._read: tuple[int, ServiceDescription] | None = (
            None  # (api_changes() before the read, what it read)
        )
        self._containers: dict[str, list[str]] = {}

    # -- access ---------------------------------------------------------------------------------
    def client(self, service_name: str) -> Any:
        """A boto3 client for `service_name` bound to this account (cached)."""
        if service_name not in self._clients:
            self._clients[service_name] = boto3.client(  # type: ignore[call-overload]
                service_name, region_name=self.region, endpoint_url=self.endpoint_url, **_FAKE_CREDENTIALS
            )
        return self._clients[service_name]

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = str(self.client("sts").get_caller_identity()["Account"])
        return self._account_id

    @property
    def cluster_name(self) -> str:
        return self.outputs[f"{self.stack_prefix}-cluster"]["ClusterName"]

    @property
    def service_name(self) -> str:
        return self.outputs[f"{self.stack_prefix}-service"]["ServiceName"]

    @property
    def service(self) -> ServiceDescription:
        """The service as the account holds it now: `read_service()`."""
        return self.read_service()

    def read_service(self) -> ServiceDescription:
        """The service as the account holds it now (see `emulator.controller.Account.read_service`).

        Re-read through boto3 only when an API request changed something since the last read, or the
        PRIMARY deployment's task definition changed (a rollback); desired count and PRIMARY deployment id
        are always the backend's own. Otherwise a few attribute reads under the lock.
        """
        cached = self._read
        if cached is not None and cached[0] == dispatch.api_changes():
            changes, described = cached
            with dispatch.LOCK:
                service = self._moto_service()
                desired, task_definition = int(service.desired_count), str(service.task_definition)
                current = ecs_deployments.primary(service)
                primary_id = "" if current is None else str(current["id"])
            if task_definition == described.task_definition.task_definition_arn:
                if (desired, primary_id) != (described.desired_count, described.primary_deployment_id):
                    described = replace(described, desired_count=desired, primary_deployment_id=primary_id)
                    self._read = (changes, described)
                return described
        changes = dispatch.api_changes()
        described = read_service(self, self.cluster_name, self.service_name)
        self._read = (changes, described)
        return described

    # -- control plane --------------------------------------------------------------------------
    def deploy(self, params: Mapping[str, object] | None = None) -> ServiceDescription:
        """Create or update the three stacks with `params` merged over the current ones."""
        merged = {**self.params, **(params or {})}
        plans = stack_plan(self.templates_dir, merged, self.stack_prefix)  # a refused value changes nothing
        self.params = merged
        self.outputs = deploy_stacks(self.client("cloudformation"), plans, poll_seconds=0.05)
        self._read = None
        return self.read_service()

    def update(self, params: Mapping[str, object]) -> ServiceDescription:
        """UpdateStack with new parameter values; returns and stores the new description."""
        return self.deploy(params)

    def set_desired_count(self, n: int) -> None:
        """What Application Auto Scaling does to the service: desiredCount only (runningCount stays the tasks')."""
        with dispatch.LOCK:
            ecs_deployments.set_desired_count(self._moto_service(), n)

    def publish_service_status(self, status: ServiceStatus, at: Callable[[float], datetime]) -> None:
        """Counts, deployments, events and tasks as DescribeServices / ListTasks / DescribeTasks answer
        them; applies `status.rollback` (a new PRIMARY deployment of its task definition)."""
        with dispatch.LOCK:
            service = self._moto_service()
            ecs_deployments.publish(service, status, at)
            ecs_tasks.publish(service, status.tasks, self._container_names, at)

    # -- data plane -----------------------------------------------------------------------------
    def put_metric(self, key: MetricKey, datum: StatisticSet, timestamp: datetime, unit: str) -> None:
        """One datum, as ECS publishes CPUUtilization over the running tasks (and CloudWatch Logs the workers' EMF
        lines)."""
        namespace, metric_name, dimensions = key
        data = {
            "MetricName": metric_name,
            "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions],
            "Timestamp": _aware(timestamp).astimezone(UTC).replace(tzinfo=None),  # moto's (naive UTC)
            "StatisticValues": {
                "SampleCount": float(datum.sample_count),
                "Sum": float(datum.sum),
                "Minimum": float(datum.minimum),
                "Maximum": float(datum.maximum),
            },
            "Unit": unit,
        }
        with dispatch.LOCK:
            self._backend("cloudwatch").put_metric_data(namespace, [data])

    def set_alarm_state(
        self,
        alarm_name: str,
        state: str,
        reason: str,
        reason_data: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        """CloudWatch's own evaluation result: StateValue, StateReason, StateReasonData (JSON),
        StateUpdatedTimestamp, and a StateUpdate history item when the state changes."""
        data = "{}" if reason_data is None else json.dumps(dict(reason_data), default=str)
        with dispatch.LOCK:
            cloudwatch_history.apply_state(
                self._backend("cloudwatch"), alarm_name, state, reason, data, timestamp or datetime.now(UTC)
            )

    def take_alarm_overrides(self) -> dict[str, str]:
        """{alarm name: state} set by a user's SetAlarmState since the last call (each reported once)."""
        with dispatch.LOCK:
            return cloudwatch_history.take_overrides(self._backend("cloudwatch"))

    def take_stop_requests(self) -> list[tuple[str, str]]:
        """[(task id, reason)] of a user's StopTask calls since the last call (each reported once)."""
        with dispatch.LOCK:
            return ecs_tasks.take_stop_requests(self._backend("ecs"))

    def record_scaling_activity(
        self, policy_name: str, alarm_name: str, from_capacity: int, to_capacity: int, timestamp: datetime
    ) -> None:
        """One DescribeScalingActivities entry, worded as Application Auto Scaling words it."""
        resource_id = f"service/{self.cluster_name}/{self.service_name}"
        with dispatch.LOCK:
            autoscaling_activities.record(
                self._backend("application-autoscaling"),
                resource_id,
                policy_name,
                alarm_name,
                to_capacity,
                _aware(timestamp),
            )

    def publish_target_health(
        self, target_group_arn: str, targets: Sequence[tuple[str, int, str, str | None, str]]
    ) -> None:
        """DescribeTargetHealth's answer: (target id, port, state, reason code, description) per target."""
        with dispatch.LOCK:
            target_group = self._backend("elbv2").target_groups.get(target_group_arn)
            if target_group is not None:
                elbv2_health.publish(target_group, targets)

    # -- moto internals (no API writes these) ---------------------------------------------------
    def _backend(self, service_name: str) -> Any:
        from moto.backends import get_backend

        return get_backend(service_name)[self.account_id][self.region]  # type: ignore[call-overload]

    def _moto_service(self) -> Any:
        return self._backend("ecs").services[f"{self.cluster_name}:{self.service_name}"]

    def _container_names(self, task_definition_arn: str) -> list[str]:
        if task_definition_arn not in self._containers:
            try:
                definition = self._backend("ecs").describe_task_definition(task_definition_arn)
                names = [str(c.get("name", "")) for c in definition.container_definitions]
            except Exception:  # a revision moto does not know (never registered here): no containers
                names = []
            self._containers[task_definition_arn] = names
        return self._containers[task_definition_arn]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# Parameters the emulated deployment cannot honour, and what to do instead (one line each).
UNEMULATED_PARAMETERS = {
    "CertificateArn": "the emulator's load balancer serves plain HTTP on 127.0.0.1 only; HTTPS is for AWS "
    "(chat-emulator deploy --param CertificateArn=arn:aws:acm:...)",
}


def refuse_unemulated(params: Mapping[str, object]) -> None:
    """A `ParameterError` for a parameter the emulator cannot honour (before moto is even started)."""
    problems = [
        f"{name}: {why}" for name, why in UNEMULATED_PARAMETERS.items() if str(params.get(name) or "")
    ]
    if problems:
        raise ParameterError(problems)


@contextmanager
def emulated_account(
    templates_dir: Path | str | None = None,
    params: Mapping[str, object] | None = None,
    redis_host: str = "127.0.0.1",
    redis_port: int = 6379,
    server: bool = False,
    region: str = DEFAULT_REGION,
    stack_prefix: str = DEFAULT_STACK_PREFIX,
) -> Iterator[EmulatedAccount]:
    """moto with the deployment's stacks in it; ElastiCache endpoints resolve to `redis_host:redis_port`."""
    refuse_unemulated(params or {})
    install()
    with _moto(server) as endpoint_url:
        account = EmulatedAccount(templates_dir, params or {}, endpoint_url, region, stack_prefix)
        set_redis_endpoint(account.account_id, region, redis_host, redis_port)
        account.deploy()
        yield account


@contextmanager
def _moto(server: bool) -> Iterator[str | None]:
    if not server:
        from moto import mock_aws

        with mock_aws():
            yield None
        return
    with moto_server() as endpoint_url:
        yield endpoint_url


@contextmanager
def moto_server(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """A `ThreadedMotoServer` in this process (so the custom models apply); reset and stopped on exit."""
    from moto.server import ThreadedMotoServer

    install()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # werkzeug logs every request otherwise
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    endpoint_url = f"http://{bound_host}:{bound_port}"
    log.info("moto server at %s", endpoint_url)
    try:
        yield endpoint_url
    finally:
        try:
            request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")
            urllib.request.urlopen(request, timeout=5).close()
        finally:
            server.stop()

"""An emulated AWS account: moto (in-process or as a server) with the deployment's stacks in it.

`emulated_account()` installs the custom models, starts moto (`mock_aws`, or `ThreadedMotoServer` on a
free loopback port when `server=True`, so other processes and the AWS CLI share the account), points
ElastiCache at the emulator's Redis, deploys the three stacks in order and yields an `EmulatedAccount`:
the one door through which the emulator reads and writes the control and data plane.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from emulator.aws._moto_ext import install, set_redis_endpoint
from emulator.aws.reader import read_service
from emulator.aws.stacks import Outputs, deploy_stacks
from emulator.aws.templates import DEFAULT_STACK_PREFIX, stack_plan
from emulator.model import ServiceDescription

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
# moto accepts any credentials; fixed fake ones keep a user's real AWS credentials out of the emulator.
_FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class EmulatedAccount:
    """boto3 clients bound to the emulated account, plus the writes AWS itself would make."""

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
        self._service: ServiceDescription | None = None

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
        return str(self.client("sts").get_caller_identity()["Account"])

    @property
    def cluster_name(self) -> str:
        return self.outputs[f"{self.stack_prefix}-cluster"]["ClusterName"]

    @property
    def service_name(self) -> str:
        return self.outputs[f"{self.stack_prefix}-service"]["ServiceName"]

    @property
    def service(self) -> ServiceDescription:
        """The deployed service as last read back (after deploy and after each `update`)."""
        if self._service is None:
            self._service = read_service(self, self.cluster_name, self.service_name)
        return self._service

    # -- control plane --------------------------------------------------------------------------
    def deploy(self, params: Mapping[str, object] | None = None) -> ServiceDescription:
        """Create or update the three stacks with `params` merged over the current ones."""
        self.params.update(params or {})
        plans = stack_plan(self.templates_dir, self.params, self.stack_prefix)
        self.outputs = deploy_stacks(self.client("cloudformation"), plans, poll_seconds=0.05)
        self._service = read_service(self, self.cluster_name, self.service_name)
        return self._service

    def update(self, params: Mapping[str, object]) -> ServiceDescription:
        """UpdateStack with new parameter values; returns and stores the new description."""
        return self.deploy(params)

    def set_desired_count(self, n: int) -> None:
        # moto's UpdateService also jumps runningCount to n; AWS does not, so keep the tasks' counts.
        service = self._moto_service()
        running, pending = service.running_count, service.pending_count
        self.client("ecs").update_service(
            cluster=self.cluster_name, service=self.service_name, desiredCount=n
        )
        self.set_task_counts(running, pending)

    def desired_count(self) -> int:
        return int(self._describe_service()["desiredCount"])

    def set_task_counts(self, running: int, pending: int) -> None:
        """Write the service's runningCount / pendingCount (moto has no tasks of its own)."""
        service = self._moto_service()
        service.running_count, service.pending_count = running, pending
        for deployment in service.deployments[:1]:
            deployment["runningCount"], deployment["pendingCount"] = running, pending

    # -- data plane -----------------------------------------------------------------------------
    def put_cpu_utilization(self, per_task_percent: list[float], timestamp: datetime) -> None:
        """One AWS/ECS CPUUtilization datum over the running tasks; nothing when none runs (as ECS)."""
        if not per_task_percent:
            return
        self.client("cloudwatch").put_metric_data(
            Namespace="AWS/ECS",
            MetricData=[
                {
                    "MetricName": "CPUUtilization",
                    "Dimensions": [
                        {"Name": "ClusterName", "Value": self.cluster_name},
                        {"Name": "ServiceName", "Value": self.service_name},
                    ],
                    "Timestamp": timestamp,
                    "StatisticValues": {
                        "SampleCount": float(len(per_task_percent)),
                        "Sum": float(sum(per_task_percent)),
                        "Minimum": float(min(per_task_percent)),
                        "Maximum": float(max(per_task_percent)),
                    },
                    "Unit": "Percent",
                }
            ],
        )

    def set_alarm_state(
        self, alarm_name: str, state: str, reason: str, reason_data: dict[str, Any] | None = None
    ) -> None:
        request: dict[str, Any] = {"AlarmName": alarm_name, "StateValue": state, "StateReason": reason}
        if reason_data is not None:
            request["StateReasonData"] = json.dumps(reason_data, default=str)
        self.client("cloudwatch").set_alarm_state(**request)

    def register_target(self, target_id: str, port: int) -> None:
        self.client("elbv2").register_targets(
            TargetGroupArn=self.service.target_group.target_group_arn,
            Targets=[{"Id": target_id, "Port": port}],
        )

    def deregister_target(self, target_id: str, port: int) -> None:
        self.client("elbv2").deregister_targets(
            TargetGroupArn=self.service.target_group.target_group_arn,
            Targets=[{"Id": target_id, "Port": port}],
        )

    # -- moto internals (no API writes these) ---------------------------------------------------
    def _describe_service(self) -> dict[str, Any]:
        services = self.client("ecs").describe_services(
            cluster=self.cluster_name, services=[self.service_name]
        )
        service: dict[str, Any] = services["services"][0]
        return service

    def _moto_service(self) -> Any:
        from moto.ecs.models import ecs_backends

        return ecs_backends[self.account_id][self.region].services[f"{self.cluster_name}:{self.service_name}"]


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

"""The one door to moto and boto3: deploy the CloudFormation stacks, and read back what is deployed.

Map of the room (may import boto3, moto, `emulator.model`; never cluster, alb, autoscaler or cli):

- `account`          `emulated_account()`: moto in-process (`mock_aws`) or as a `ThreadedMotoServer`, the
                     three stacks deployed into it, and `EmulatedAccount`, the control loop's `Account`:
                     `read_service()` (cached until an API change) and the writes AWS itself makes (desired
                     count, CPU metric, alarm states and history, scaling activities, the scheduler's
                     counts / deployments / tasks / events, target health), straight into moto's backends
- `templates`        the templates in deployment order and which parameters each stack takes
- `stacks`           create/update stacks with boto3 against any endpoint; failure events on error
- `reader`           `read_service()`: DescribeServices & co. -> `emulator.model.ServiceDescription`
- `step_adjustments` AWS's validation of step scaling adjustments (moto has none)
- `_moto_ext/`       custom moto CloudFormation models for what moto 5.2.5 skips or loses, and the API
                     answers it lacks or gets wrong (DescribeServices' deployments, UpdateService, ListTasks,
                     DescribeTasks, DescribeTargetHealth, DescribeScalingActivities, DescribeAlarmHistory,
                     SetAlarmState, RegisterScalableTarget's clamp), all under one lock
- `server`           `python -m emulator.aws.server`: a moto server with those models, for the AWS CLI
- `exceptions`       TemplateError, StepAdjustmentError, StackDeployError, ServiceNotFound

Data flow: cloudformation/*.yml -> `templates.stack_plan` -> `stacks.deploy_stacks` -> moto (or AWS) ->
`reader.read_service` -> ServiceDescription for scaling, alb, cluster and sim.
"""

from __future__ import annotations

from emulator.aws.account import EmulatedAccount, emulated_account, moto_server
from emulator.aws.exceptions import (
    AwsError,
    ServiceNotFound,
    StackDeployError,
    StepAdjustmentError,
    TemplateError,
)
from emulator.aws.reader import read_service

__all__ = [
    "AwsError",
    "EmulatedAccount",
    "ServiceNotFound",
    "StackDeployError",
    "StepAdjustmentError",
    "TemplateError",
    "emulated_account",
    "moto_server",
    "read_service",
]

"""Create or update the stacks with boto3, in order, against any endpoint (AWS or a moto server).

Each stack is created, or updated when it exists ("No updates are to be performed" is success), then
polled until it settles. A stack that ends in a failed or rolled-back state raises `StackDeployError`
carrying the stack's own failure events; an API error does the same with AWS's message. What botocore
raises before a request reaches AWS becomes one line (`session.aws_setup_errors`): no credentials to
sign with (boto3 guide, "Credentials": the environment, a profile, SSO...) is `NoCredentials`; no
answer at the endpoint is `EndpointUnreachable`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from emulator.aws.exceptions import StackDeployError
from emulator.aws.session import aws_setup_errors
from emulator.aws.templates import StackPlan

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
_DONE_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}

Outputs = dict[str, str]


def deploy_stacks(
    cloudformation: Any,
    plans: Sequence[StackPlan],
    *,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Outputs]:
    """Deploy `plans` in order; returns each stack's outputs by stack name."""
    with aws_setup_errors(str(cloudformation.meta.endpoint_url)):
        return {
            plan.stack_name: deploy_stack(
                cloudformation, plan, poll_seconds=poll_seconds, timeout_seconds=timeout_seconds, sleep=sleep
            )
            for plan in plans
        }


def deploy_stack(
    cloudformation: Any,
    plan: StackPlan,
    *,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Outputs:
    request = {
        "StackName": plan.stack_name,
        "TemplateBody": plan.template_body,
        "Parameters": plan.api_parameters(),
        "Capabilities": CAPABILITIES,
    }
    try:
        if _stack_status(cloudformation, plan.stack_name) is None:
            cloudformation.create_stack(**request)
        elif _unchanged(cloudformation, plan):
            return stack_outputs(cloudformation, plan.stack_name)
        else:
            cloudformation.update_stack(**request)
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if "No updates are to be performed" not in message:
            raise StackDeployError(
                plan.stack_name, message, failure_events(cloudformation, plan.stack_name)
            ) from exc
    status = _wait(cloudformation, plan.stack_name, poll_seconds, timeout_seconds, sleep)
    if status not in _DONE_OK:
        raise StackDeployError(
            plan.stack_name, f"ended in {status}", failure_events(cloudformation, plan.stack_name)
        )
    return stack_outputs(cloudformation, plan.stack_name)


def _unchanged(cloudformation: Any, plan: StackPlan) -> bool:
    """Same template and parameters as deployed: AWS would answer "No updates are to be performed"."""
    deployed = cloudformation.get_template(StackName=plan.stack_name)["TemplateBody"]
    stack = cloudformation.describe_stacks(StackName=plan.stack_name)["Stacks"][0]
    current = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    wanted = dict(plan.parameters)
    same_params = all(current.get(k) == v for k, v in wanted.items()) and all(
        k in wanted for k in current if k in _explicit_keys(stack)
    )
    return isinstance(deployed, str) and deployed == plan.template_body and same_params


def _explicit_keys(stack: dict[str, Any]) -> set[str]:
    return {p["ParameterKey"] for p in stack.get("Parameters", []) if not p.get("UsePreviousValue")}


def stack_outputs(cloudformation: Any, stack_name: str) -> Outputs:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: str(o["OutputValue"]) for o in stack.get("Outputs", [])}


def failure_events(cloudformation: Any, stack_name: str) -> list[str]:
    """The stack's own failure reasons, oldest first: "<LogicalId> (<Type>) <STATUS>: <reason>"."""
    try:
        events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    except ClientError:
        return []
    failed = [e for e in events if str(e.get("ResourceStatus", "")).endswith("FAILED")]
    return [
        f"{e.get('LogicalResourceId')} ({e.get('ResourceType')}) {e['ResourceStatus']}: "
        f"{e.get('ResourceStatusReason', '')}"
        for e in reversed(failed)
    ]


def _stack_status(cloudformation: Any, stack_name: str) -> str | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    live = [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
    return str(live[0]["StackStatus"]) if live else None


def _wait(
    cloudformation: Any,
    stack_name: str,
    poll_seconds: float,
    timeout_seconds: float,
    sleep: Callable[[float], None],
) -> str:
    waited = 0.0
    while True:
        status = _stack_status(cloudformation, stack_name) or "DELETE_COMPLETE"
        if not status.endswith("_IN_PROGRESS"):
            return status
        if waited >= timeout_seconds:
            raise StackDeployError(stack_name, f"still {status} after {timeout_seconds:.0f} s")
        sleep(poll_seconds)
        waited += poll_seconds

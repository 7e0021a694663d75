"""stack_plan(): the stacks in order, cross-stack names wired, each parameter where it is declared."""

from __future__ import annotations

import pytest

from emulator.aws import TemplateError
from emulator.aws.templates import parse_param_assignments, stack_plan


def test_stacks_are_planned_in_deployment_order_with_cross_stack_names() -> None:
    """cluster, resources, service; the later ones find the earlier ones by name."""
    plans = stack_plan(stack_prefix="demo")

    assert [p.stack_name for p in plans] == ["demo-cluster", "demo-resources", "demo-service"]
    assert plans[1].parameters == {"ClusterStackName": "demo-cluster"}
    assert plans[2].parameters == {"ClusterStackName": "demo-cluster", "ResourcesStackName": "demo-resources"}


def test_each_parameter_goes_to_every_stack_that_declares_it() -> None:
    """ImageUrl only to the service stack; ClusterStackName overrides win over the prefix's."""
    plans = stack_plan(params={"ImageUrl": "repo/chat:v2", "ClusterStackName": "other", "DesiredCount": 3})

    assert "ImageUrl" not in plans[0].parameters
    assert "ImageUrl" not in plans[1].parameters
    assert plans[2].parameters["ImageUrl"] == "repo/chat:v2"
    assert plans[2].parameters["DesiredCount"] == "3"
    assert plans[1].parameters["ClusterStackName"] == "other"


def test_a_parameter_no_stack_declares_is_an_error_naming_it() -> None:
    """Typos fail before anything is deployed."""
    with pytest.raises(TemplateError, match="MaxCapacityy"):
        stack_plan(params={"MaxCapacityy": 4})


def test_cli_assignments_are_parsed_and_checked() -> None:
    """--param Key=Value keeps '=' inside values; a missing '=' is an error."""
    assert parse_param_assignments(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    with pytest.raises(TemplateError, match="Key=Value"):
        parse_param_assignments(["novalue"])

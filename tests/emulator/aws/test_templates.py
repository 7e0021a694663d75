"""stack_plan(): the stacks in order, cross-stack names wired, each parameter where it is declared."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emulator.aws import TemplateError
from emulator.aws.exceptions import ParameterError
from emulator.aws.templates import STACKS, default_templates_dir, parse_param_assignments, stack_plan


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
    """Typos fail before anything is deployed, with the closest declared name."""
    with pytest.raises(
        ParameterError, match=r"^MaxCapacityy: no such parameter .*did you mean MaxCapacity\?"
    ):
        stack_plan(params={"MaxCapacityy": 4})


def test_cross_stack_names_are_checked_in_every_stack_that_declares_them(tmp_path: Path) -> None:
    """A rule on a parameter two stacks declare applies in each; the problem is named once."""
    for _, filename in STACKS:
        shutil.copy(default_templates_dir() / filename, tmp_path / filename)
    for filename in ("resources.yml", "chat-service.yml"):
        path = tmp_path / filename
        path.write_text(
            path.read_text().replace(
                "  ClusterStackName:\n    Type: String\n",
                "  ClusterStackName:\n    Type: String\n    MaxLength: 10\n",
                1,
            )
        )

    with pytest.raises(ParameterError) as caught:
        stack_plan(tmp_path)

    assert str(caught.value) == (
        "ClusterStackName=fargate-chat-cluster: 20 characters, longer than the MaxLength 10"
    )
    assert [p.stack_name for p in stack_plan(tmp_path, stack_prefix="x")] == [
        "x-cluster",
        "x-resources",
        "x-service",
    ]


def test_cli_assignments_are_parsed_and_checked() -> None:
    """--param Key=Value keeps '=' inside values, trims spaces around key and value; no '=' is an error."""
    assert parse_param_assignments(["A=1", "B=x=y", " C = 3 "]) == {"A": "1", "B": "x=y", "C": "3"}
    with pytest.raises(TemplateError, match="Key=Value"):
        parse_param_assignments(["novalue"])

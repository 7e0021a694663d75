"""emulator/aws/parameters.py: a parameter value is refused where CloudFormation refuses it, in one line.

The rules are CloudFormation's ("Parameters template section syntax"); the declarations below are the
shapes the User Guide shows (a port Number with MinValue / MaxValue, an AllowedPattern with its
ConstraintDescription, a CommaDelimitedList, List<Number>, AWS-specific types).
"""

from __future__ import annotations

from typing import Any

import pytest

from emulator.aws.exceptions import ParameterError, TemplateError
from emulator.aws.parameters import declarations, unknown_names, value_problems
from emulator.aws.templates import stack_plan

SECTION: dict[str, Any] = {
    "Port": {"Type": "Number", "Default": 8888, "MinValue": 1, "MaxValue": 65535},
    "Cpu": {"Type": "Number", "Default": 1024, "AllowedValues": [256, 512, 1024]},
    "Mode": {
        "Type": "String",
        "Default": "StepScaling",
        "AllowedValues": ["StepScaling", "TargetTrackingScaling"],
    },
    "Flag": {"Type": "String", "Default": "false", "AllowedValues": [True, False]},
    "DBName": {
        "Type": "String",
        "Default": "db",
        "AllowedPattern": "[A-Za-z0-9]+",
        "ConstraintDescription": "must contain only uppercase and lowercase letters and numbers",
        "MinLength": 2,
        "MaxLength": 8,
    },
    "Secret": {"Type": "String", "NoEcho": True, "MinLength": 12},
    "Zones": {"Type": "CommaDelimitedList", "Default": "a,b", "AllowedValues": ["a", "b", "c"]},
    "Names": {"Type": "CommaDelimitedList", "Default": "x", "AllowedPattern": "[a-z]+"},
    "Weights": {"Type": "List<Number>", "Default": "80,20", "MinValue": 0, "MaxValue": 100},
    "Vpc": {"Type": "AWS::EC2::VPC::Id", "Default": "vpc-1", "AllowedPattern": "vpc-[0-9a-f]+"},
    "Subnets": {"Type": "List<AWS::EC2::Subnet::Id>", "Default": "subnet-1"},
    "Ami": {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", "Default": "/aws/ami"},
}
DECLARED = declarations(SECTION)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Port", "8888"),
        ("Port", "1"),
        ("Port", "65535"),
        ("Port", "8.5e2"),
        ("Cpu", "512"),
        ("Mode", "TargetTrackingScaling"),
        ("Flag", "true"),
        ("DBName", "MyDB2"),
        ("Secret", "twelve-chars"),
        ("Zones", "a, c"),
        ("Zones", ""),
        ("Names", "ab,cd"),
        ("Weights", "0, 100"),
        ("Vpc", "vpc-0abc"),
        ("Subnets", "subnet-1,subnet-2"),
        ("Ami", "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"),
    ],
)
def test_values_cloudformation_accepts(name: str, value: str) -> None:
    assert value_problems(DECLARED[name], value) == []


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("Port", "abc", "Port=abc: not a Number"),
        ("Port", "", "Port='': not a Number"),
        ("Port", "0x50", "Port=0x50: not a Number"),
        ("Port", "-0", "Port=-0: below the MinValue 1"),
        ("Port", "65536", "Port=65536: above the MaxValue 65535"),
        ("Cpu", "300", "Cpu=300: not one of the AllowedValues 256, 512, 1024"),
        ("Cpu", "512.0", "Cpu=512.0: not one of the AllowedValues 256, 512, 1024"),
        ("Mode", "Bogus", "Mode=Bogus: not one of the AllowedValues StepScaling, TargetTrackingScaling"),
        (
            "Mode",
            "stepscaling",
            "Mode=stepscaling: not one of the AllowedValues StepScaling, TargetTrackingScaling",
        ),
        ("Flag", "yes", "Flag=yes: not one of the AllowedValues true, false"),
        (
            "DBName",
            "my-db",
            "DBName=my-db: does not match the AllowedPattern [A-Za-z0-9]+ "
            "(must contain only uppercase and lowercase letters and numbers)",
        ),
        ("DBName", "d", "DBName=d: 1 characters, shorter than the MinLength 2"),
        ("DBName", "abcdefghi", "DBName=abcdefghi: 9 characters, longer than the MaxLength 8"),
        ("Secret", "short", "Secret=****: 5 characters, shorter than the MinLength 12"),
        ("Zones", "a,d", "Zones=a,d: member d not one of the AllowedValues a, b, c"),
        ("Names", "ab,C1", "Names=ab,C1: member C1 does not match the AllowedPattern [a-z]+"),
        ("Weights", "80,x", "Weights=80,x: member x is not a Number"),
        ("Weights", "80,120", "Weights=80,120: member 120 above the MaxValue 100"),
        ("Vpc", "sg-1", "Vpc=sg-1: does not match the AllowedPattern vpc-[0-9a-f]+"),
    ],
)
def test_values_cloudformation_refuses_name_the_parameter_and_the_rule(
    name: str, value: str, line: str
) -> None:
    assert value_problems(DECLARED[name], value) == [line]


def test_no_value_takes_the_default_which_must_obey_the_rules_too() -> None:
    """CloudFormation: a Default must satisfy the constraints; no value and no Default "must have values"."""
    bad_default = declarations({"Size": {"Type": "Number", "Default": 9, "MaxValue": 5}})["Size"]

    assert value_problems(DECLARED["Port"], None) == []
    assert value_problems(bad_default, None) == ["Size=9 (the template's Default): above the MaxValue 5"]
    assert value_problems(DECLARED["Secret"], None) == [
        "Secret: no value and no Default (CloudFormation: must have values)"
    ]


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"P": {"Type": "Strng"}}, "unrecognized parameter type Strng"),
        ({"P": {"Default": "x"}}, "parameter P has no Type"),
        ({"P": {"Type": "String", "AllowedPattern": "[a-"}}, "bad AllowedPattern"),
        ({"P": {"Type": "Number", "MinValue": "low"}}, "MinValue 'low' is not a number"),
    ],
)
def test_a_malformed_declaration_is_a_template_error(section: dict[str, Any], words: str) -> None:
    with pytest.raises(TemplateError, match=words):
        declarations(section, "my.yml")


def test_an_unknown_name_lists_the_known_ones_and_the_closest() -> None:
    assert unknown_names(["MaxCapcity", "Port"], ["MaxCapacity", "MinCapacity", "Port"]) == [
        "MaxCapcity: no such parameter in the templates "
        "(did you mean MaxCapacity? known: MaxCapacity, MinCapacity, Port)"
    ]
    assert unknown_names(["Nope"], ["Port"]) == ["Nope: no such parameter in the templates (known: Port)"]


# -- across the three stacks the project deploys (templates.stack_plan) ------------------------------------


@pytest.mark.parametrize(
    ("params", "line"),
    [
        (
            {"ScalingMode": "Bogus"},
            "ScalingMode=Bogus: not one of the AllowedValues StepScaling, TargetTrackingScaling",
        ),
        ({"MaxCapacity": "abc"}, "MaxCapacity=abc: not a Number"),
        ({"DeregistrationDelay": 3601}, "DeregistrationDelay=3601: above the MaxValue 3600"),
        ({"DeregistrationDelay": -1}, "DeregistrationDelay=-1: below the MinValue 0"),
        ({"ContainerCpu": 300}, "ContainerCpu=300: not one of the AllowedValues 256, 512, 1024, 2048, 4096"),
        ({"EncryptionInTransit": "yes"}, "EncryptionInTransit=yes: not one of the AllowedValues true, false"),
        ({"StickinessEnabled": "off"}, "StickinessEnabled=off: not one of the AllowedValues true, false"),
        (
            {"LogRetentionDays": 10},
            "LogRetentionDays=10: not one of the AllowedValues 1, 3, 5, 7, 14, 30, 60, 90",
        ),
    ],
)
def test_the_projects_templates_refuse_what_cloudformation_would(
    params: dict[str, object], line: str
) -> None:
    with pytest.raises(ParameterError) as caught:
        stack_plan(params=params)

    assert str(caught.value) == line


def test_every_problem_is_named_in_one_line_and_an_unknown_name_first() -> None:
    with pytest.raises(ParameterError) as caught:
        stack_plan(params={"Nope": 1, "MaxCapacity": "abc", "ScalingMode": "Bogus"})

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Nope: no such parameter in the templates (known: AuthTokenSecretArn, ")
    assert message.endswith(
        "; MaxCapacity=abc: not a Number; "
        "ScalingMode=Bogus: not one of the AllowedValues StepScaling, TargetTrackingScaling"
    )
    assert isinstance(caught.value, ValueError)


def test_python_values_are_checked_as_the_api_carries_them() -> None:
    """True -> "true", 3 -> "3": what `up` and the tests pass as Python values passes as text would."""
    plans = stack_plan(
        params={"StickinessEnabled": False, "DesiredCount": 3, "ScalingMode": "TargetTrackingScaling"}
    )

    assert plans[2].parameters["StickinessEnabled"] == "false"
    assert plans[2].parameters["DesiredCount"] == "3"

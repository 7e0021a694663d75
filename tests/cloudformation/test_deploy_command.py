"""`chat-emulator deploy --endpoint-url` against a moto server started by the test (over HTTP)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import boto3
import pytest

from emulator.aws.templates import default_templates_dir
from emulator.commands import deploy


def _deploy(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    deploy.add_arguments(parser)
    return deploy.run(parser.parse_args(list(argv)))


def test_deploy_creates_all_stacks_and_prints_their_outputs(
    endpoint_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three stacks, in order, outputs printed; boto3 at the same endpoint sees the service."""
    code = _deploy(
        "--endpoint-url", endpoint_url, "--region", "us-east-1", "--poll-seconds", "0.05",
        "--param", "DesiredCount=3", "--param", "ImageUrl=example.com/chat:v2",
    )  # fmt: skip
    out = capsys.readouterr().out
    cfn = boto3.client("cloudformation", endpoint_url=endpoint_url, region_name="us-east-1")
    statuses = {s["StackName"]: s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]}
    cluster = cfn.list_exports()["Exports"]
    cluster_name = next(e["Value"] for e in cluster if e["Name"] == "fargate-chat-cluster:ClusterName")
    ecs = boto3.client("ecs", endpoint_url=endpoint_url, region_name="us-east-1")
    service = ecs.describe_services(cluster=cluster_name, services=["chat"])["services"][0]
    image = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"][
        "containerDefinitions"
    ][0]["image"]

    assert code == 0
    assert out.index("fargate-chat-cluster: done") < out.index("fargate-chat-resources: done")
    assert out.index("fargate-chat-resources: done") < out.index("fargate-chat-service: done")
    assert "  ServiceName = chat" in out
    assert f"  ClusterName = {cluster_name}" in out
    assert set(statuses.values()) == {"CREATE_COMPLETE"}
    assert (service["desiredCount"], service["launchType"], image) == (3, "FARGATE", "example.com/chat:v2")


def test_a_second_deploy_updates_in_place(endpoint_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Re-running with a new parameter updates the existing stacks instead of failing."""
    args = ("--endpoint-url", endpoint_url, "--region", "us-east-1", "--poll-seconds", "0.05")
    assert _deploy(*args) == 0

    code = _deploy(*args, "--param", "MaxCapacity=7")
    aas = boto3.client("application-autoscaling", endpoint_url=endpoint_url, region_name="us-east-1")

    assert code == 0
    assert [
        t["MaxCapacity"] for t in aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    ] == [7]


def test_failing_stack_exits_1_with_the_stacks_error(
    endpoint_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An overlapping step adjustment: exit 1, the stack and the policy named on stderr."""
    folder = tmp_path / "cloudformation"
    shutil.copytree(default_templates_dir(), folder)
    service = folder / "chat-service.yml"
    service.write_text(
        service.read_text().replace("- MetricIntervalLowerBound: 15\n", "- MetricIntervalLowerBound: 12\n", 1)
    )

    code = _deploy("--endpoint-url", endpoint_url, "--region", "us-east-1", "--templates", str(folder))
    err = capsys.readouterr().err

    assert code == 1
    assert "stack fargate-chat-service" in err
    assert "fargate-chat-service-scale-up" in err


def test_the_old_option_name_templates_dir_still_names_the_folder(
    endpoint_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--templates-dir is an alias of --templates: the folder it names is the one read."""
    folder = tmp_path / "cloudformation"
    shutil.copytree(default_templates_dir(), folder)
    (folder / "chat-service.yml").write_text(
        (folder / "chat-service.yml")
        .read_text()
        .replace("    Default: 10\n", "    Default: 10\n    MaxValue: 5\n", 1)
    )

    assert (
        _deploy("--endpoint-url", endpoint_url, "--region", "us-east-1", "--templates-dir", str(folder)) == 2
    )
    assert "MaxCapacity=10 (the template's Default): above the MaxValue 5" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("param", "line"),
    [
        (
            "DesiredCont=3",
            "DesiredCont: no such parameter in the templates (did you mean DesiredCount? known: ",
        ),
        ("MaxCapacity=abc", "MaxCapacity=abc: not a Number"),
        (
            "ScalingMode=Bogus",
            "ScalingMode=Bogus: not one of the AllowedValues StepScaling, TargetTrackingScaling",
        ),
        ("DeregistrationDelay=4000", "DeregistrationDelay=4000: above the MaxValue 3600"),
    ],
)
def test_a_parameter_cloudformation_would_refuse_exits_2_and_deploys_nothing(
    endpoint_url: str, param: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked before CloudFormation is called: the endpoint holds no stack afterwards."""
    code = _deploy("--region", "us-east-1", "--endpoint-url", endpoint_url, "--param", param)
    err = capsys.readouterr().err
    cfn = boto3.client("cloudformation", endpoint_url=endpoint_url, region_name="us-east-1")

    assert code == 2
    assert err.startswith(f"chat-emulator deploy: {line}") and err.count("\n") == 1
    assert cfn.describe_stacks()["Stacks"] == []


def test_deploy_to_the_emulator_without_credentials_exits_2_saying_any_value_works(
    endpoint_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A machine with no AWS configuration at all: the emulator takes any credentials, the line says so."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "missing-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    code = _deploy("--region", "us-east-1", "--endpoint-url", endpoint_url)
    captured = capsys.readouterr()
    err = captured.err

    assert code == 2
    assert "Traceback" not in err and err.count("\n") == 1
    assert "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in err
    assert "for the emulator's endpoint any value works, e.g. AWS_ACCESS_KEY_ID=testing" in err
    assert captured.out == ""  # refused before the first stack is tried

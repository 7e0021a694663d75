"""The templates: cfn-lint clean, the seed's contract in the text, and broken copies caught by name."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.aws import StackDeployError, emulated_account
from emulator.aws.templates import default_templates_dir, load_template

TEMPLATES = sorted(default_templates_dir().glob("*.yml"))


def _cfn_lint(*args: Path | str) -> subprocess.CompletedProcess[str]:
    beside_python = Path(sys.executable).with_name("cfn-lint")
    executable = str(beside_python) if beside_python.exists() else shutil.which("cfn-lint")
    if executable is None:
        pytest.fail("cfn-lint is not installed (pip install -e '.[dev]')")
    return subprocess.run(
        [executable, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def test_there_are_the_four_templates() -> None:
    """cluster, resources, chat-service and the optional cloudfront stack."""
    assert [p.name for p in TEMPLATES] == [
        "chat-service.yml",
        "cloudfront.yml",
        "cluster.yml",
        "resources.yml",
    ]


@pytest.mark.slow
def test_cfn_lint_passes_on_every_template() -> None:
    """The same check as the nox session `cfn_lint` (errors and warnings both fail)."""
    result = _cfn_lint(*TEMPLATES)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_cfn_lint_names_a_broken_resource(tmp_path: Path) -> None:
    """A deliberately wrong health check property fails cfn-lint with the resource named."""
    broken = tmp_path / "chat-service.yml"
    text = (default_templates_dir() / "chat-service.yml").read_text()
    broken.write_text(
        text.replace("HealthCheckIntervalSeconds: 6", "HealthCheckIntervalSeconds: 6\n      Bogus: 1")
    )

    result = _cfn_lint("--format", "json", broken)
    paths = [m["Location"]["Path"] for m in json.loads(result.stdout)]

    assert result.returncode != 0
    assert ["Resources", "TargetGroup", "Properties", "Bogus"] in paths


def test_autoscaling_role_output_exports_the_autoscaling_role() -> None:
    """The seed's bug: its AutoscalingRole output exported the task execution role."""
    output = load_template(default_templates_dir() / "cluster.yml")["Outputs"]["AutoscalingRole"]

    assert output["Value"] == "AutoscalingRole.Arn"
    assert output["Export"]["Name"] == "${AWS::StackName}:AutoscalingRole"


def test_cloudfront_forwards_all_cookies_and_websocket_headers() -> None:
    """Stickiness needs the AWSALB cookie; WebSocket upgrades need the headers."""
    config = load_template(default_templates_dir() / "cloudfront.yml")["Resources"]["Distribution"][
        "Properties"
    ]
    forwarded = config["DistributionConfig"]["DefaultCacheBehavior"]["ForwardedValues"]

    assert forwarded["Cookies"]["Forward"] == "all"
    assert forwarded["Headers"] == ["*"]
    assert forwarded["QueryString"] is True


def test_redis_admits_6379_only_from_the_fargate_containers() -> None:
    """resources.yml's only ingress rule: tcp 6379 from the cluster's container security group."""
    resources = load_template(default_templates_dir() / "resources.yml")["Resources"]
    ingress = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"]

    assert [(i["IpProtocol"], i["FromPort"], i["ToPort"]) for i in ingress] == [("tcp", 6379, 6379)]
    assert (
        ingress[0]["SourceSecurityGroupId"]["Fn::ImportValue"]
        == "${ClusterStackName}:FargateContainerSecurityGroup"
    )


def _broken_copy(tmp_path: Path, filename: str, old: str, new: str) -> Path:
    folder = tmp_path / "cloudformation"
    shutil.copytree(default_templates_dir(), folder)
    path = folder / filename
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return folder


def test_an_overlapping_step_adjustment_fails_the_deploy_naming_the_policy(tmp_path: Path) -> None:
    """[0,15) and [10,25) overlap: the service stack fails with the scale-up policy named."""
    folder = _broken_copy(
        tmp_path,
        "chat-service.yml",
        "          - MetricIntervalLowerBound: 15\n",
        "          - MetricIntervalLowerBound: 10\n",
    )

    with pytest.raises(StackDeployError) as caught, emulated_account(templates_dir=folder):
        pass

    assert caught.value.stack_name == "fargate-chat-service"
    assert re.search(r"policy fargate-chat-service-scale-up: step adjustments overlap", str(caught.value))


def test_a_missing_export_fails_the_deploy_naming_the_export(tmp_path: Path) -> None:
    """chat-service imports RedisEndpoint; without the export the deploy names what is missing."""
    folder = _broken_copy(
        tmp_path,
        "resources.yml",
        "      Name: !Sub ${AWS::StackName}:RedisEndpoint\n",
        "      Name: !Sub ${AWS::StackName}:RedisHost\n",
    )

    with pytest.raises(StackDeployError) as caught, emulated_account(templates_dir=folder):
        pass

    assert "fargate-chat-resources:RedisEndpoint" in str(caught.value)


def test_every_task_is_given_redis_endpoint() -> None:
    """On ECS a worker without REDIS_ENDPOINT / REDIS_URL refuses to start (chat.config): the service sets it."""
    resources = load_template(default_templates_dir() / "chat-service.yml")["Resources"]
    [container] = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    environment = {item["Name"]: item["Value"] for item in container["Environment"] if isinstance(item, dict)}
    # (the one conditional entry, METRICS_NAMESPACE, is an Fn::If that reads as a list here)
    assert "RedisEndpoint" in str(environment["REDIS_ENDPOINT"])  # the resources stack's export

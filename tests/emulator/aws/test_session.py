"""emulator/aws/session.py: the region is the one passed, else boto3's configured one, else `NoRegion`;
no credentials is one line saying what to set (`NoCredentials`), exit 2 from `chat-emulator deploy`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from emulator.aws.exceptions import NoCredentials
from emulator.aws.session import NoRegion, cloudformation_client
from emulator.commands import deploy

AWS_VARIABLES = (
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine without AWS configuration: no AWS variables, an empty HOME, config and credentials files
    that do not exist, and no instance metadata to ask (a laptop has none; this keeps the test offline)."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "missing-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def fake_credentials(no_aws_config: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator's kind: any value signs."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def _deploy(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    deploy.add_arguments(parser)
    return deploy.run(parser.parse_args(list(argv)))


@pytest.mark.usefixtures("fake_credentials")
def test_the_region_passed_and_the_endpoint_are_the_clients() -> None:
    client = cloudformation_client("eu-west-3", "http://127.0.0.1:5000")

    assert (client.meta.region_name, client.meta.endpoint_url) == ("eu-west-3", "http://127.0.0.1:5000")


@pytest.mark.usefixtures("fake_credentials")
def test_without_a_region_the_configured_one_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")

    client = cloudformation_client()

    assert client.meta.region_name == "ap-southeast-2"
    assert client.meta.endpoint_url == "https://cloudformation.ap-southeast-2.amazonaws.com"


@pytest.mark.usefixtures("no_aws_config")
def test_no_region_anywhere_is_refused_before_any_call() -> None:
    with pytest.raises(NoRegion, match="--region"):
        cloudformation_client(endpoint_url="http://127.0.0.1:9")


@pytest.mark.usefixtures("no_aws_config")
def test_deploy_without_a_region_exits_2_and_says_how_to_give_one(capsys: pytest.CaptureFixture[str]) -> None:
    code = _deploy("--endpoint-url", "http://127.0.0.1:9")

    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no AWS region: pass --region or set AWS_DEFAULT_REGION" in err


@pytest.mark.usefixtures("no_aws_config")
def test_deploy_to_aws_without_credentials_exits_2_with_one_line_saying_what_to_set(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """botocore's NoCredentialsError, raised before the first request leaves: no traceback."""
    with pytest.raises(NoCredentials):
        cloudformation_client("us-east-1")
    code = _deploy("--region", "us-east-1")

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""  # not even "deploying ...": nothing was tried
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("chat-emulator deploy: no AWS credentials: set AWS_ACCESS_KEY_ID and ")
    assert "AWS_SECRET_ACCESS_KEY" in captured.err and "AWS_PROFILE" in captured.err
    assert "AWS_ACCESS_KEY_ID=testing" in captured.err  # what the emulator's endpoint takes


@pytest.mark.usefixtures("no_aws_config")
def test_half_the_credentials_names_the_missing_half(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """botocore's PartialCredentialsError is raised when the client is made, before any call."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")

    with pytest.raises(NoCredentials, match="missing: AWS_SECRET_ACCESS_KEY"):
        cloudformation_client("us-east-1", "http://127.0.0.1:9")
    assert _deploy("--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9") == 2
    assert "missing: AWS_SECRET_ACCESS_KEY" in capsys.readouterr().err


@pytest.mark.usefixtures("no_aws_config")
def test_a_parameter_is_refused_before_credentials_or_region_are_needed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """CloudFormation is never called with a value it would refuse: the parameter's line, not the setup's."""
    assert _deploy("--param", "ScalingMode=Bogus") == 2
    assert capsys.readouterr().err == (
        "chat-emulator deploy: ScalingMode=Bogus: not one of the AllowedValues StepScaling, TargetTrackingScaling\n"
    )


@pytest.mark.usefixtures("no_aws_config")
def test_an_endpoint_nobody_answers_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

    assert _deploy("--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9") == 1
    assert capsys.readouterr().err.endswith(
        "nothing answers at http://127.0.0.1:9 (is `chat-emulator up` running there?)\n"
    )

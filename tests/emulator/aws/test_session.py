"""emulator/aws/session.py: the region is the one passed, else boto3's configured one, else `NoRegion`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from emulator.aws.session import NoRegion, cloudformation_client
from emulator.commands import deploy


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No region anywhere: no environment variables, empty shared config and credentials files."""
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))


@pytest.mark.usefixtures("no_aws_config")
def test_the_region_passed_and_the_endpoint_are_the_clients() -> None:
    client = cloudformation_client("eu-west-3", "http://127.0.0.1:5000")

    assert (client.meta.region_name, client.meta.endpoint_url) == ("eu-west-3", "http://127.0.0.1:5000")


@pytest.mark.usefixtures("no_aws_config")
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
    parser = argparse.ArgumentParser()
    deploy.add_arguments(parser)

    code = deploy.run(parser.parse_args(["--endpoint-url", "http://127.0.0.1:9"]))

    assert code == 2
    assert "no AWS region: pass --region" in capsys.readouterr().err

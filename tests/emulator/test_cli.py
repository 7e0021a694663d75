"""emulator/cli.py: one parser per command, none of them taking abbreviations; one name for the templates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.cli import build_parser


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--worker", "3"],
        ["up", "--time", "60"],
        ["chaos", "kill-task", "--worker", "2"],
        ["load", "--url", "http://127.0.0.1:9", "--client", "5"],
        ["deploy", "--templates-d", "cloudformation"],
        ["simulate", "--load", "x.csv", "--par", "MaxCapacity=4"],
    ],
)
def test_an_abbreviated_option_is_an_error_not_a_guess(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--worker 3` used to run `--workers 3` silently; now it exits 2 naming the option, before anything runs."""
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)

    assert caught.value.code == 2
    assert f"unrecognized arguments: {argv[-2]}" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["simulate", "deploy"])
def test_every_command_that_reads_templates_calls_the_folder_templates(command: str) -> None:
    parser = build_parser()
    extra = ["--load", "x.csv"] if command == "simulate" else []

    args = parser.parse_args([command, *extra, "--templates", "my-cloudformation"])

    assert str(args.templates) == "my-cloudformation"


def test_an_aws_profile_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    """Importing moto builds a boto3 session, which reads AWS_PROFILE: a wrong one is said in one line."""
    env = {**os.environ, "AWS_PROFILE": "no-such-profile", "AWS_CONFIG_FILE": str(tmp_path / "none")}
    done = subprocess.run(
        [sys.executable, "-m", "emulator.cli", "status", "--state-file", str(tmp_path / "s.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "no-such-profile" in done.stderr and "Traceback" not in done.stderr

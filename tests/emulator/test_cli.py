"""emulator/cli.py: one parser per command, none of them taking abbreviations; one name for the templates."""

from __future__ import annotations

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

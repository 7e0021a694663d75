"""`chat-emulator simulate`: the contract other tools drive (files, columns, summary, --param)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.commands import simulate as command
from emulator.model import ServiceDescription
from emulator.sim import write_load

from .conftest import build_seed_service, deploy

HEADER = [
    *("minute", "demand_vcpu", "cpu_percent", "desired", "running", "alarm_high", "alarm_low", "activity"),
    *(
        "connections",
        "messages_per_s",
        "connections_per_task",
        "over_capacity_s",
        "moved_connections",
        "cost_usd",
    ),
]


def test_outputs_and_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[tuple[Path | None, dict[str, str]]] = []

    def fake_deploy(templates: Path | None, params: dict[str, str]) -> ServiceDescription:
        asked.append((templates, params))
        return build_seed_service()

    monkeypatch.setattr(command, "deployed_service", fake_deploy)
    monkeypatch.setattr(command, "redis_node_type", lambda templates, params: "cache.t3.micro")
    load, out, plot = tmp_path / "load.csv", tmp_path / "out.csv", tmp_path / "plot.png"
    write_load(load, [0.9] * 5 + [9.0] * 10 + [0.9] * 15)
    code = main(
        [
            "simulate",
            "--load",
            str(load),
            "--out",
            str(out),
            "--plot",
            str(plot),
            "--templates",
            str(tmp_path),
            "--param",
            "MaxCapacity=8",
            "--param",
            "Cooldown = 120",
        ]
    )
    assert code == 0
    assert asked == [(tmp_path, {"MaxCapacity": "8", "Cooldown": "120"})]
    rows = list(csv.reader(out.open()))
    assert rows[0] == HEADER and len(rows) == 31
    assert rows[6][7] == "+3 ScaleUpPolicy" and rows[6][5] == "ALARM"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    for words in ("task-hours", "minutes above high alarm", "scaling activities", "peak tasks"):
        assert words in printed


def test_bad_input_exits_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load = tmp_path / "load.csv"
    load.write_text("minute,cpu\n0,1\n")
    assert main(["simulate", "--load", str(load)]) == 2
    assert "header" in capsys.readouterr().err
    write_load(load, [1.0])
    assert main(["simulate", "--load", str(load), "--param", "nokey"]) == 2


@pytest.mark.parametrize(
    ("param", "line"),
    [
        (
            "Nope=1",
            "Nope: no such parameter in the templates (known: AuthTokenSecretArn, CertificateArn, ClusterStackName, ",
        ),
        ("MaxCapacity=abc", "MaxCapacity=abc: not a Number"),
        (
            "ScalingMode=Bogus",
            "ScalingMode=Bogus: not one of the AllowedValues StepScaling, TargetTrackingScaling",
        ),
    ],
)
def test_a_parameter_cloudformation_would_refuse_exits_2_with_one_line(
    tmp_path: Path, param: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The account's own deploy path refuses it (as `up` and `deploy` do): one line, no traceback, no output."""
    load, out = tmp_path / "load.csv", tmp_path / "out.csv"
    write_load(load, [1.0])

    code = main(["simulate", "--load", str(load), "--out", str(out), "--param", param])
    captured = capsys.readouterr()

    assert code == 2
    assert captured.err.startswith(f"chat-emulator simulate: {line}")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.out == "" and not out.exists()


def test_options_are_never_abbreviated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--templ DIR` is an error, not a silent `--templates DIR`."""
    load = tmp_path / "load.csv"
    write_load(load, [1.0])

    with pytest.raises(SystemExit) as caught:
        main(["simulate", "--load", str(load), "--templ", str(tmp_path)])

    assert caught.value.code == 2
    assert "unrecognized arguments: --templ" in capsys.readouterr().err


@pytest.mark.slow
def test_param_overrides_reach_the_deployed_templates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = deploy({"MaxCapacity": "4", "ScalingCooldown": "120"})
    assert service.scalable_target is not None and service.scalable_target.max_capacity == 4
    assert {p.cooldown for p in service.step_policies} == {120}
    load = tmp_path / "load.csv"
    write_load(load, [9.0] * 20)
    assert main(["simulate", "--load", str(load), "--param", "MaxCapacity=4"]) == 0
    assert "peak tasks:                4" in capsys.readouterr().out

"""`chat-emulator simulate`: the contract other tools drive (files, columns, summary, --param)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.commands import simulate as command
from emulator.model import ServiceDescription
from emulator.sim import write_load
from emulator.sim.costmodel import DEFAULT_CALIBRATION
from emulator.sim.load import Load

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
    for words in ("task-hours", "minutes above high CPU alarm", "scaling activities", "peak tasks"):
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
    assert "peak tasks:                   4" in capsys.readouterr().out


def test_a_load_in_users_prints_dollars_and_what_users_feel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(command, "deployed_service", lambda templates, params: build_seed_service())
    monkeypatch.setattr(command, "redis_node_type", lambda templates, params: "cache.t3.micro")
    load = tmp_path / "users.csv"
    write_load(load, Load.of_users([1000] * 30 + [9000] * 30, [10] * 30 + [90] * 30))
    assert main(["simulate", "--load", str(load), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["load_kind"] == "connections"
    assert report["cost_model"]["measured"]["date"] and report["prices"]["date"]
    (policy,) = report["policies"]
    assert policy["minutes"] == 60 and policy["peak_tasks"] > 2
    assert policy["minutes_over_capacity"] > 0  # 9000 users sending 90/s outrun the scale-out at first
    assert policy["cost_usd"]["total"] == pytest.approx(
        sum(policy["cost_usd"][k] for k in ("fargate", "alb_hours", "alb_lcu", "elasticache")), abs=1e-3
    )
    assert {"idle_vcpu_hours", "connections_moved", "largest_reconnect_wave_per_s"} <= policy.keys()


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (["--region", "mars-1"], "no prices for region mars-1"),
        (["--compare", "nameless"], "--compare expects NAME:KEY=VALUE"),
        (["--compare", "a:MaxCapacity=3", "--compare", "a:MaxCapacity=4"], "--compare names must differ"),
        (["--model", "MISSING"], "MISSING"),
        (["--session-minutes", "0"], "--session-minutes must be > 0"),
        (["--task-start-seconds", "-5"], "--task-start-seconds must be >= 0"),
        (["--plot", "plan.xyz"], "must end in .png, .svg, .pdf"),
        (["--out", "MISSING/deeper/t.csv"], "no folder"),
        (["--compare", "a/b:MaxCapacity=3"], "--compare names may hold letters"),
    ],
)
def test_bad_planner_options_exit_2_with_one_line(
    tmp_path: Path, extra: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    load = tmp_path / "users.csv"
    write_load(load, Load.of_users([100], [1]))
    assert (
        main(
            [
                "simulate",
                "--load",
                str(load),
                *[e.replace("MISSING", str(tmp_path / "no.json")) for e in extra],
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("chat-emulator simulate: ") and line.replace("MISSING", "no.json") in err
    assert err.count("\n") == 1


def test_a_cost_model_that_breaks_the_schema_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load, model = tmp_path / "users.csv", tmp_path / "model.json"
    write_load(load, Load.of_users([100], [1]))
    data = json.loads(DEFAULT_CALIBRATION.read_text())
    data["cpu_seconds_per_delivery"] = "fast"
    model.write_text(json.dumps(data))
    assert main(["simulate", "--load", str(load), "--model", str(model)]) == 2
    assert "cpu_seconds_per_delivery must be a number >= 0" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_runs_three_policies_over_one_load_into_one_table_and_one_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load, plot, out = tmp_path / "users.csv", tmp_path / "compare.png", tmp_path / "timeline.csv"
    write_load(load, Load.of_users([500] * 20 + [4000] * 40 + [500] * 60, [5] * 20 + [40] * 40 + [5] * 60))
    tracking = "ScalingMode=TargetTrackingScaling"
    code = main(
        [
            *("simulate", "--load", str(load), "--plot", str(plot), "--out", str(out)),
            *("--compare", "step:ScalingMode=StepScaling"),
            *("--compare", f"cpu:{tracking}"),
            *(
                "--compare",
                f"connections:{tracking},ScalingMetric=ActiveConnections,TargetConnectionsPerTask=400",
            ),
        ]
    )
    assert code == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["policy", "cost", "$"]
    assert [line.split()[0] for line in table[1:4]] == ["step", "cpu", "connections"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    timelines = {p.name: list(csv.reader(p.open())) for p in tmp_path.glob("timeline-*.csv")}
    assert set(timelines) == {"timeline-step.csv", "timeline-cpu.csv", "timeline-connections.csv"}
    connections = timelines["timeline-connections.csv"]
    per_task = connections[0].index("connections_per_task")
    assert connections[30][per_task] != "" and connections[1][connections[0].index("alarm_high")] != ""
    peaks = {name: max(int(r[4]) for r in rows[1:]) for name, rows in timelines.items()}
    assert (
        peaks["timeline-connections.csv"] >= 4000 / 400
    )  # ceil(connections / target), within MaxCapacity 10


def test_a_vcpu_load_cannot_drive_scaling_on_connections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A minute,demand_vcpu load has no connections: the plan would sit at MinCapacity all day, silently."""
    load = tmp_path / "load.csv"
    write_load(load, [1.0] * 3)
    params = ["--param", "ScalingMode=TargetTrackingScaling", "--param", "ScalingMetric=ActiveConnections"]
    assert main(["simulate", "--load", str(load), *params]) == 2
    assert (
        "scales on ActiveConnections, and a minute,demand_vcpu load has no connections"
        in capsys.readouterr().err
    )


def test_a_node_type_the_price_table_lacks_is_left_out_of_the_bill_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load = tmp_path / "load.csv"
    write_load(load, [1.0] * 3)
    assert main(["simulate", "--load", str(load), "--param", "RedisNodeType=cache.r7g.large"]) == 0
    captured = capsys.readouterr()
    assert "no ElastiCache price for cache.r7g.large in us-east-1" in captured.err
    assert "+ ElastiCache $0.00" in captured.out

"""benchmarks/compare.py: its arguments, what it says when Node is missing, its results files, its figures, and
one tiny real run of both servers (the only test here that starts anything)."""

from __future__ import annotations

import datetime
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import missing

ROOT = Path(__file__).resolve().parents[2]


def load_compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_compare", ROOT / "benchmarks" / "compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


compare = load_compare()


def test_no_scenario_means_all_of_them_three_reps_both_servers() -> None:
    args = compare.parse_args([])
    assert args.scenario == ["fanout-200", "fanout-2000", "idle", "login"]
    assert (args.reps, args.servers) == (3, ["project", "node"])


def test_one_scenario_and_the_counts_the_issue_names() -> None:
    args = compare.parse_args(["idle", "--idle-clients", "10000", "--reps", "5", "--servers", "node"])
    assert (args.scenario, args.reps, args.servers) == (["idle"], 5, ["node"])
    defined = compare.scenarios(args)
    assert defined["idle"].clients == 10000
    assert "--no-login" in defined["idle"].flags
    assert (
        compare.scenarios(compare.parse_args(["login", "--login-clients", "5000"]))["login"].clients == 5000
    )


def test_the_fanout_loads_are_the_issues() -> None:
    defined = compare.scenarios(compare.parse_args([]))
    small, large = defined["fanout-200"], defined["fanout-2000"]
    assert (small.clients, large.clients) == (200, 2000)

    def flag(scenario: object, name: str) -> str:
        flags = list(scenario.flags)  # type: ignore[attr-defined]
        return str(flags[flags.index(name) + 1])

    assert (flag(small, "--senders"), flag(small, "--rate")) == ("10", "10")  # 10 senders x 10 msg/s
    assert (flag(large, "--senders"), flag(large, "--rate")) == ("10", "1")  # 10 msg/s in total


@pytest.mark.parametrize(
    "argv",
    [
        ["nonsense"],
        ["--servers", "node,stock"],
        ["--servers", ""],
        ["--reps", "0"],
        ["--project-env", "X"],
        ["login", "--servers", "node,floor-uvicorn"],  # the floors count no users
        ["idle", "--idle-login", "--servers", "floor-socketio"],
    ],
)
def test_bad_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        compare.parse_args(argv)
    assert exit_.value.code == 2
    assert "error" in capsys.readouterr().err


def test_without_node_it_says_what_to_install_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = compare.main(["fanout-200", "--node", str(tmp_path / "no-node"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "node is not installed" in err and "npm ci --prefix benchmarks/node" in err
    assert not (tmp_path / "out").exists(), "no results file for a run that did not start"


def test_without_the_node_modules_it_names_the_npm_command(tmp_path: Path) -> None:
    with pytest.raises(compare.Missing) as missing_:
        compare.check_requirements(
            sys.executable, node_dir=tmp_path
        )  # any existing binary stands in for node
    assert "socket.io" in str(missing_.value)
    assert "npm ci --prefix benchmarks/node" in str(missing_.value)


def test_each_run_gets_a_new_results_file_and_an_existing_one_is_never_written(tmp_path: Path) -> None:
    when = datetime.datetime(2026, 12, 1, 15, 4, 5, tzinfo=datetime.UTC)
    committed = tmp_path / "compare-20261201T150405Z.jsonl"
    committed.write_text('{"committed": true}\n')
    first = compare.results_file(tmp_path, when)
    second = compare.results_file(tmp_path, when)
    assert (first.name, second.name) == (
        "compare-20261201T150405Z-2.jsonl",
        "compare-20261201T150405Z-3.jsonl",
    )
    assert committed.read_text() == '{"committed": true}\n'
    assert compare.results_file(tmp_path / "new").name.startswith("compare-20")


def test_cpu_per_delivery_is_the_workers_cpu_in_the_window_over_the_deliveries_in_it() -> None:
    scenario = compare.scenarios(compare.parse_args([]))["fanout-200"]
    start = {"t": 10.0, "worker_cpu_s": 1.0, "redis_cpu_s": 0.0, "loadgen_cpu_s": 0.0, "machine_busy_s": 0.0}
    end = {"t": 20.0, "worker_cpu_s": 5.0, "redis_cpu_s": 0.5, "loadgen_cpu_s": 2.0, "machine_busy_s": 9.0}
    result = {"ok": True, "deliveries_in_window": 200_000, "latency_ms": {"p50": 2.0, "p99": 9.0}}
    got = compare.figures(scenario, result, {"measure-start": start, "measure-end": end})
    assert got["us_per_delivery"] == 20.0  # 4 s of CPU / 200k deliveries
    assert (got["worker_cpu_pct"], got["other_cpu_pct"]) == (40.0, 25.0)  # 90 % busy - 65 % ours
    assert (got["p50_ms"], got["p99_ms"]) == (2.0, 9.0)


def test_memory_per_connection_is_the_rss_growth_over_the_connections() -> None:
    scenario = compare.scenarios(compare.parse_args([]))["idle"]
    marks = {"baseline": {"worker_rss": 50_000_000}, "idle": {"worker_rss": 130_000_000}}
    got = compare.figures(scenario, {"ok": True, "connected": 2000}, marks)
    assert got["kb_per_connection"] == 40.0


def test_the_table_gives_medians_and_the_ratio_project_over_node() -> None:
    rows = [
        {
            "scenario": "fanout-200",
            "server": server,
            "clients": 200,
            "ok": True,
            "us_per_delivery": us,
            "p99_ms": 5,
        }
        for server, us in [
            ("project", 9.0),
            ("node", 20.0),
            ("node", 10.0),
            ("project", 6.0),
            ("project", 7.0),
        ]
    ]
    text = compare.table(rows)
    assert "| worker CPU µs / delivery | 9, 6, 7 | 7 | 20, 10 | 10 | 0.70x |" in text  # lower medians
    assert "project 3/3, node 2/2" in text
    floor = {**rows[0], "server": "floor-uvicorn", "us_per_delivery": 4.0}
    text = compare.table([*rows, floor])
    assert "| project / node | floor-uvicorn / node |" in text
    assert "| worker CPU µs / delivery | 9, 6, 7 | 7 | 20, 10 | 10 | 4 | 4 | 0.70x | 0.40x |" in text


def test_a_tiny_real_run_of_both_servers_and_the_floors(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the benchmark's reference server and load generator run in Node")
    try:
        compare.check_requirements(node)
    except compare.Missing as why:
        missing(str(why))
    argv = ["fanout-200", "--reps", "1", "--clients", "20", "--warmup", "0.5", "--duration", "1"]
    argv += ["--servers", "project,node,floor-uvicorn,floor-socketio"]
    argv += [
        "--settle",
        "0",
        "--drain",
        "0.5",
        "--out",
        str(tmp_path),
        "--project-env",
        "DELIVERY_WINDOW_MS=5",
    ]
    assert compare.main(argv) == 0
    [path] = tmp_path.glob("compare-*.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(row["server"] for row in rows) == ["floor-socketio", "floor-uvicorn", "node", "project"]
    for row in rows:
        assert row["ok"], row
        assert row["loadgen"]["received"] == row["loadgen"]["expected"] > 0
        assert row["us_per_delivery"] > 0
        assert row["machine_before"]["cores"] >= 1
        assert row.get("project_env") == ({"DELIVERY_WINDOW_MS": "5"} if row["server"] == "project" else None)


def test_the_table_names_the_project_settings_and_warns_when_they_are_mixed() -> None:
    def row(server: str, env: dict[str, str] | None) -> dict[str, object]:
        base = {
            "scenario": "fanout-200",
            "server": server,
            "clients": 200,
            "ok": True,
            "us_per_delivery": 1.0,
        }
        return base | ({"project_env": env} if env else {})

    plain = compare.table([row("project", None), row("node", None)])
    assert "project settings" not in plain
    assert "project settings" not in compare.table([row("node", None)])  # no project run: nothing to name
    windowed = compare.table([row("project", {"DELIVERY_WINDOW_MS": "25"}), row("node", None)])
    assert "project settings: DELIVERY_WINDOW_MS=25" in windowed and "mixed" not in windowed
    mixed = compare.table(
        [row("project", {"DELIVERY_WINDOW_MS": "25"}), row("project", None), row("node", None)]
    )
    assert "DELIVERY_WINDOW_MS=25 | (defaults)" in mixed and "mixed below" in mixed

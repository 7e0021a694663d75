"""The load generator against a real `python -m chat` worker (embedded Redis, free port, stopped by PID)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import free_port, wait_for_port

from emulator.cli import main
from emulator.loadgen import LoadConfig, run_load

ROOT = Path(__file__).resolve().parents[3]


class Worker:
    def __init__(self, **extra_env: str) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "MESSAGE_RATE": "100",
            "MESSAGE_BURST": "200",
            "LOG_LEVEL": "WARNING",
            **extra_env,
        }
        env.pop("REDIS_URL", None)
        env.pop("REDIS_ENDPOINT", None)
        self.process = subprocess.Popen([sys.executable, "-m", "chat"], cwd=ROOT, env=env)
        wait_for_port("127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def worker() -> Iterator[Worker]:
    w = Worker()
    try:
        yield w
    finally:
        w.stop()


def config(url: str, **overrides: object) -> LoadConfig:
    base = LoadConfig(
        urls=(url,), clients=6, senders=2, rate=5.0, duration=2.0, warmup=0.5, drain=1.0, run="test"
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


@pytest.mark.slow
def test_every_message_reaches_every_other_client_once(worker: Worker) -> None:
    report = run_load(config(worker.url, procs=2))
    r = report.result
    assert r.logged_in == 6 and r.connect_failed == 0
    assert r.sent_measured >= 2 * 5 * 2 - 2  # 2 senders x 5 msg/s x 2 s, allowing for the random phase
    assert report.expected == r.sent_measured * 5
    assert r.received_measured == report.expected
    assert report.loss_pct == 0.0 and r.duplicates == 0 and r.errors == 0
    assert len(r.latency_ms) == r.received_measured and all(v >= 0 for v in r.latency_ms)
    assert len(r.login_ms) == 6 and len(r.connect_ms) == 6
    assert len(report.cpu.per_process_pct) == 3  # this process and two load generator processes
    assert report.ok


@pytest.mark.slow
def test_json_output_through_the_cli(worker: Worker, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["load", "--url", worker.url, "--clients", "4", "--senders", "1", "--rate", "5"]
    code = main([*argv, "--duration", "1.5", "--warmup", "0.5", "--drain", "1", "--typing", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["ok"] is True and data["expected"] == data["received"] > 0
    for key in ("p50", "p90", "p99", "max"):
        assert data["latency_ms"][key] is not None
    assert data["login_ms"]["n"] == 4
    assert data["other_events"] > 0  # typing, stop typing, user joined, login
    assert set(data["cpu"]) >= {"per_process_pct", "total_pct", "busiest_pct", "saturated"}
    assert data["settings"]["typing"] is True


@pytest.mark.slow
def test_polling_then_upgrade(worker: Worker) -> None:
    report = run_load(config(worker.url, clients=4, senders=1, transport="polling"))
    assert report.result.logged_in == 4
    assert report.result.received_measured == report.expected > 0


@pytest.mark.slow
def test_a_worker_that_dies_mid_run_shows_loss_and_errors(worker: Worker) -> None:
    killer = threading.Timer(2.0, worker.process.kill)
    killer.start()
    try:
        report = run_load(config(worker.url, duration=3.0, warmup=0.5))
    finally:
        killer.cancel()
    r = report.result
    assert r.logged_in == 6
    assert r.disconnects == 6 and r.errors >= 6
    assert r.send_failed > 0
    assert report.loss_pct > 0
    assert not report.ok


def test_a_refused_login_fails_with_the_servers_reason() -> None:
    worker = Worker(MAX_USERNAME_LENGTH="3")  # the load generator's names (load0, load1, ...) are longer
    try:
        report = run_load(
            config(worker.url, clients=2, senders=1, duration=0.5, warmup=0, connect_timeout=60)
        )
    finally:
        worker.stop()
    assert report.result.connect_failed == 2 and report.result.logged_in == 0
    assert all("longer than 3 characters" in e for e in report.result.error_samples)


def test_a_url_nobody_listens_on_counts_failed_logins() -> None:
    report = run_load(config(f"http://127.0.0.1:{free_port()}", clients=3, senders=1, duration=0.5, warmup=0))
    assert report.result.connect_failed == 3 and report.result.logged_in == 0
    assert report.result.error_samples and not report.ok


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "--url", "ftp://x", "--clients", "2"]) == 2
    assert main(["load", "--url", "http://x", "--clients", "2", "--senders", "3"]) == 2
    assert "load:" in capsys.readouterr().err

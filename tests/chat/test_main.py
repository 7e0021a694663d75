"""`python -m chat --help` / `--version` print and exit without starting a server; unknown arguments are refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chat.__main__ import main


def test_help_prints_the_configuration_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "REDIS_ENDPOINT" in out and "PORT" in out


def test_version_prints_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("python -m chat 0.")


def test_an_unknown_argument_is_refused_before_anything_listens() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chat", "--worker", "3"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and "unrecognized arguments" in done.stderr
    assert "listening" not in done.stderr

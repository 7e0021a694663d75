"""One place for every check; CI (`.ci/run`) calls these same sessions.

nox reuses the project's virtual environment when run with `--no-venv` (CI does), or builds its own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "cfn_lint", "security", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
# checkov pins boto3, networkx and packaging below the project's own: it gets a virtual environment of its own.
CHECKOV = "checkov==3.3.30"
CHECKOV_VENV = Path(".nox") / "checkov"


def _install(session: nox.Session) -> None:
    if session.venv_backend != "none":
        session.install("-e", ".[dev]")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: style and common bugs; import-linter: the rooms of ARCHITECTURE.md."""
    _install(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over chat/ and emulator/."""
    _install(session)
    session.run("mypy")


@nox.session(python=PYTHON)
def cfn_lint(session: nox.Session) -> None:
    """cfn-lint over every CloudFormation template."""
    _install(session)
    session.run("cfn-lint", *sorted(str(p) for p in Path("cloudformation").glob("*.yml")))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite (the README's test command), over pytest-xdist workers: one per core, at most 4 (the
    tests wait on servers and clocks more than they compute; every one runs on its own ports and key prefix)."""
    _install(session)
    workers = max(1, min(4, os.cpu_count() or 1))
    session.run("pytest", "-n", str(workers), *session.posargs)


# the libraries whose internals chat._compat uses (pinned in pyproject.toml to the minor versions verified)
SEAM_LIBRARIES = ("python-socketio", "python-engineio", "uvicorn[standard]")


@nox.session(python=PYTHON, reuse_venv=True)
def newest(session: nox.Session) -> None:
    """The test suite against the newest releases of the libraries behind chat._compat, in a venv of its own
    (not in CI, nor in the default sessions: run it before moving a pin). `nox -s newest -- tests/chat` for less."""
    session.install("-e", ".[dev]")
    session.install("-U", *SEAM_LIBRARIES)  # past the pins: pip says so, and installs them all the same
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    session.run("pytest", "-p", "no:cacheprovider", *(session.posargs or ["tests"]))


def _checkov(session: nox.Session) -> str:
    """The checkov executable in `.nox/checkov`, (re)installed when missing or not the pinned version."""
    python = CHECKOV_VENV / "bin" / "python"
    executable = CHECKOV_VENV / "bin" / "checkov"
    version = CHECKOV_VENV / "checkov-version"
    if not executable.exists() or not version.exists() or version.read_text() != CHECKOV:
        session.run(sys.executable, "-m", "venv", "--clear", str(CHECKOV_VENV), external=True)
        session.run(str(python), "-m", "pip", "install", "-q", CHECKOV, external=True)
        version.write_text(CHECKOV)
    return str(executable)


@nox.session(python=PYTHON)
def security(session: nox.Session) -> None:
    """checkov (CloudFormation framework) over cloudformation/: any failed check fails the session.

    A check deliberately not met is suppressed next to its resource (Metadata: checkov: skip), with the reason."""
    checkov = _checkov(session)
    session.run(
        checkov, "--directory", "cloudformation", "--framework", "cloudformation",
        "--compact", "--quiet", "--skip-download", "--output", "cli",
        external=True, env={"BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_COLOR": "1"},
    )  # fmt: skip

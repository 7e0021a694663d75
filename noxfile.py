"""One place for every check; CI (`.ci/run`) calls these same sessions.

nox reuses the project's virtual environment when run with `--no-venv` (CI does), or builds its own.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "cfn_lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


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
    """The whole test suite (the README's test command)."""
    _install(session)
    session.run("pytest", *session.posargs)

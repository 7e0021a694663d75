"""The rooms of ARCHITECTURE.md hold: `pytest` alone fails on a room breach, as `nox -s lint` does in CI.

- import-linter's contracts (pyproject.toml): the layers of the room table, the AWS SDK only in `emulator.aws`,
  pure `scaling` and `ecs`; every room of `emulator` is in the layers (a new room cannot slip past them);
- ruff's banned-api rule (TID251): boto3 / botocore / moto and bare `asyncio.create_task`, file by file;
- what ruff cannot see: `loop.create_task(...)` outside the task helpers (`emulator.tasks`, and the one named
  helper of each chat module that has one), since the event loop keeps only a weak reference to a task.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import emulator

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Top-level modules of `emulator` that are no room of the table, with why.
NOT_ROOMS: dict[str, str] = {}

# (file, function) where a task may be created with `create_task`; anything else goes through them.
TASK_HELPERS = {
    ("emulator/tasks.py", "TaskSet.spawn"): "the emulator's task helper",
    ("chat/engine.py", "ChatEngine.spawn"): "the Engine.IO server's named, referenced, logged tasks",
    ("chat/server.py", "ChatWorker._spawn"): "the worker's named, referenced, logged tasks",
    ("chat/events.py", "ChatEvents._background"): "a connection's tasks, referenced by the connection",
    ("emulator/alb/session.py", "ClientSession._stream_and_receive"): (
        "a scoped pair: both awaited or cancelled before the function returns, their errors are its own"
    ),
}
TASK_HELPER_FILES: dict[str, str] = {}


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_import_linter_contracts_are_kept() -> None:
    done = _run(str(BIN / "lint-imports"))

    assert done.returncode == 0, done.stdout + done.stderr


def test_no_file_imports_the_aws_sdk_or_creates_a_bare_task() -> None:
    done = _run(str(BIN / "ruff"), "check", "--select", "TID251", "--output-format", "concise", ".")

    assert done.returncode == 0, done.stdout + done.stderr


def _layers() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = (c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    return {
        name.strip().strip("()")
        for layer in contract["layers"]
        for name in layer.replace("|", ":").split(":")
    }


def test_every_room_of_the_emulator_is_in_the_layers() -> None:
    rooms = {f"emulator.{m.name}" for m in pkgutil.iter_modules(emulator.__path__)}

    assert rooms - _layers() - NOT_ROOMS.keys() == set()


def task_creations(source: str) -> list[tuple[str, int]]:
    """(enclosing function, line) of each `<anything>.create_task(...)` call, except a TaskGroup's."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, scope: str, groups: frozenset[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                inner = f"{scope}.{child.name}" if scope else child.name
                visit(child, inner, frozenset())
                continue
            if isinstance(child, ast.AsyncWith):
                groups = groups | {
                    item.optional_vars.id
                    for item in child.items
                    if isinstance(item.optional_vars, ast.Name)
                    and isinstance(item.context_expr, ast.Call)
                    and ast.unparse(item.context_expr.func).endswith("TaskGroup")
                }
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "create_task"
                and not (isinstance(child.func.value, ast.Name) and child.func.value.id in groups)
            ):
                found.append((scope, child.lineno))
            visit(child, scope, groups)

    visit(ast.parse(source), "", frozenset())
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import asyncio\nasyncio.create_task(f())\n", [("", 2)]),
        ("class A:\n    def go(self):\n        loop.create_task(f())\n", [("A.go", 3)]),
        ("async def go():\n    asyncio.get_running_loop().create_task(f(), name='x')\n", [("go", 2)]),
        ("async def go():\n    async with asyncio.TaskGroup() as tg:\n        tg.create_task(f())\n", []),
        ("async def go():\n    spawn(f(), name='x')\n", []),
    ],
)
def test_task_creations_are_found_however_they_are_spelled(
    source: str, expected: list[tuple[str, int]]
) -> None:
    assert task_creations(source) == expected


def test_tasks_are_created_only_by_the_task_helpers() -> None:
    stray = [
        f"{path}:{line} in {scope or 'module'}"
        for folder in ("chat", "emulator")
        for file in sorted((ROOT / folder).rglob("*.py"))
        if (path := file.relative_to(ROOT).as_posix()) not in TASK_HELPER_FILES
        for scope, line in task_creations(file.read_text())
        if (path, scope) not in TASK_HELPERS
    ]

    assert stray == [], (
        "create a task with emulator.tasks.spawn() or a TaskSet (chat: the module's task helper)"
    )

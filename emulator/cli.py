"""`chat-emulator`: one entry point, one module per sub-command under `emulator.commands`.

Each command module exposes `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`. No parser
takes abbreviations (`allow_abbrev=False`): `--worker 3` is an error, never a silent `--workers 3`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

COMMAND_MODULES: tuple[str, ...] = (
    "deploy",
    "simulate",
    "up",
    "status",
    "load",
    "chaos",
    "calibrate",
)


def _load_commands() -> list[ModuleType]:
    return [importlib.import_module(f"emulator.commands.{name}") for name in COMMAND_MODULES]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat-emulator",
        description="Run the chat's whole AWS Fargate deployment on this machine, offline.",
        allow_abbrev=False,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _load_commands():
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP, allow_abbrev=False)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        code: int = args.run(args)
    except Exception as exc:
        if type(exc).__name__ != "ProfileNotFound":  # botocore's; importing moto reads AWS_PROFILE
            raise
        print(f"chat-emulator: {exc}: set AWS_PROFILE to a configured profile, or unset it", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())

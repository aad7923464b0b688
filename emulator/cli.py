"""The ``lunar-hil`` command.

Each subcommand lives in :mod:`emulator.commands` as a module with
``register(subparsers)`` (adds its parser and sets ``handler``) so the
command-line contract in DESIGN.md stays in one visible place: ``COMMANDS``.

Error policy: a :class:`~emulator.errors.ConfigError` (bad profile, option,
URL, file) prints one line per problem on stderr and exits 2; argparse usage
errors also exit 2 with one line. Any other :class:`EmulatorError` exits 1 with
one line. A traceback is a bug.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from .errors import ConfigError, EmulatorError

# Subcommand name -> module under emulator.commands. Order is the help order.
COMMANDS: dict[str, str] = {
    "profiles": "profiles",
    "run": "run",
    "decode": "decode",
    "xtce": "xtce",
    "satyaml": "satyaml",
    "cosmos": "cosmos",
    "yamcs": "yamcs",
    "links": "links",
    "bench": "bench",
    "vboard": "vboard",
    "send-tc": "send_tc",
}


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="lunar-hil",
        description="Hardware-in-the-loop CCSDS telemetry emulator for lunar landers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)
    sub.required = True
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(f"{__package__}.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.commands.{module_name}":
                raise
            continue  # command not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.handler(args)
    except ConfigError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"lunar-hil: error: {line}", file=sys.stderr)
        return 2
    except EmulatorError as exc:
        print(f"lunar-hil: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

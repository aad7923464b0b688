"""The ``lunar-hil`` command.

Each subcommand lives in :mod:`lunar_hil.emulator.commands` as a module with
``register(subparsers)`` (adds its parser and sets ``handler``); ``COMMANDS``
lists every one that exists, in help order.

Exit codes, the same for every command:

====  =====================================================================
code  meaning
====  =====================================================================
0     success
1     a failure during the run: a link that broke after start, a write that
      failed, any other :class:`~lunar_hil.emulator.errors.EmulatorError`
2     something to fix before starting again: the command line, a profile,
      a scenario, a URL, the environment, or a file, device or peer that
      cannot be opened at start (:class:`~lunar_hil.emulator.errors.ConfigError`
      and its subclasses, argparse usage errors)
130   interrupted by SIGINT (Ctrl-C)
143   terminated by SIGTERM
====  =====================================================================

Every error is one line per problem on stderr (``lunar-hil: error: ...``); the
code comes from the error's class (``EmulatorError.exit_code``). A traceback is
a bug.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from .errors import EXIT_SIGINT, EXIT_START_FAILURE, EmulatorError

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
    "plot": "plot",
    "bench": "bench",
    "vboard": "vboard",
    "send-tc": "send_tc",
}


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_START_FAILURE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="lunar-hil",
        description="Hardware-in-the-loop CCSDS telemetry emulator for lunar landers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)
    sub.required = True
    for module_name in COMMANDS.values():
        importlib.import_module(f"{__package__}.commands.{module_name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.handler(args)
    except EmulatorError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"lunar-hil: error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_SIGINT
    except BrokenPipeError:
        return 0
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

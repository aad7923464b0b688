"""Every command in ``cli.COMMANDS`` answers ``--help`` with an example of itself.

"An example" is text after the word "example" (or "examples") that runs the
command: ``lunar-hil NAME ...``. Commands with subcommands (``profiles``) give
one for each subcommand too. The help goes to stdout with exit code 0.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from lunar_hil.emulator.cli import COMMANDS, build_parser

CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]


def command_lines() -> list[tuple[str, ...]]:
    """Every command and subcommand, as the words after ``lunar-hil``."""
    parser = build_parser()
    out: list[tuple[str, ...]] = []

    def walk(p: argparse.ArgumentParser, words: tuple[str, ...]) -> None:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if words:
            out.append(words)
        for action in subs:
            for name, child in action.choices.items():
                walk(child, (*words, name))

    walk(parser, ())
    return out


def test_every_listed_command_is_reachable() -> None:
    assert [w[0] for w in command_lines() if len(w) == 1] == list(COMMANDS)


@pytest.mark.parametrize("words", command_lines(), ids=" ".join)
def test_help_has_an_example(words: tuple[str, ...]) -> None:
    proc = subprocess.run([*CLI, *words, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    text = proc.stdout
    assert text.startswith(f"usage: lunar-hil {' '.join(words)}"), text[:200]
    match = re.search(r"\bexamples?\b:?", text, re.IGNORECASE)
    assert match, f"lunar-hil {' '.join(words)} --help has no example:\n{text}"
    # argparse may wrap a long example, so join lines before looking for the command.
    after = " ".join(text[match.end():].split())
    assert re.search(rf"lunar-hil {re.escape(' '.join(words))}\b", after), (
        f"the example in lunar-hil {' '.join(words)} --help does not run it:\n{text}"
    )

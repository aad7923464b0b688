"""The README's shell blocks run, top to bottom, and every command exits 0.

The convention (README writers: follow it)
------------------------------------------
* **Which blocks.** Fenced blocks opened with ```` ```sh ```` or ```` ```console ````.
  Other fences (```` ``` ````, ```` ```yaml ````, ```` ```text ````) are never run: use
  them for output, usage synopses and configuration.
* **Which lines.** Every line of such a block is a command, after joining lines that
  end in ``\\`` and dropping a leading ``$ `` prompt. Lines that are only a comment are
  output samples and are not run. Not run either:
  - ``make ...`` (the targets take minutes; ``make test`` runs this suite) and
    ``python benchmarks/...`` (benchmarks print figures, they are not tests);
  - lines naming a device that needs hardware, ``/dev/ttyUSB*`` or ``/dev/ttyACM*``.
* **Skipping a block.** An HTML comment on the line just before the fence,
  ``<!-- doctest: skip (why) -->``, skips the whole block (GitHub does not render it).
* **How a line runs.** ``bash -c 'set -o pipefail; LINE'`` in one temporary directory
  per ``## `` section of the README (per ``### `` subsection in a section that
  holds ``<!-- doctest: subsections independent -->``; they run in parallel), shared by the
  blocks of that section in README order (a later block may read an earlier block's
  files, as a reader following along would). ``lunar-hil`` and ``python`` on the
  PATH run ``sys.executable -m lunar_hil.emulator.cli`` and ``sys.executable``; the
  paths of the repository (``examples/``, ``profiles/``, ``docs/``) are reachable
  because the repository root is linked into the temporary directory under the
  same names. A foreground line must exit 0 within 120 s.
* **Short durations.** Every ``lunar-hil run`` is capped to ``--duration 4``
  simulated seconds (a smaller ``--duration`` is kept; a run without one gets
  ``--duration 4``; 20 for a run with ``--uplink``, which must outlast a
  telecommand's round trip), and every ``--idle-timeout N`` to 2 s. Set
  ``LUNAR_HIL_DOCTEST_DURATION`` to change the cap. So write the durations a user
  wants; the test shortens them.
* **Background commands** (a line ending in ``&``, before any comment) start and
  the next line runs at once, except that:
  - a background line that listens (``udp://H:P``, ``tcp://H:P`` or ``mosquitto -p P``)
    is waited for until the port is bound (at most 15 s);
  - a background line with ``--out pty`` (``--uplink pty``, ``vboard --port pty``,
    ``decode ... pty``) is waited for until it
    prints ``pty: /dev/pts/N``; from then on, every ``/dev/pts/N`` in later lines of
    the block is replaced by that path, so write the example path the README shows.
  At the end of the block, background ``lunar-hil`` commands must end by themselves
  (a capped run ends; a network ``decode`` ends when its peer closes or after
  ``--idle-timeout``) within 30 s and exit 0; other background programs (a broker,
  ``mosquitto_sub``) are terminated.
* **Network peers.** Ports written as ``HOST:PORT`` (``127.0.0.1``, ``0.0.0.0``,
  ``localhost``) or ``-p PORT`` are replaced, consistently within a block, by free
  ports, so the README can show the usual numbers (5600, 1883, 10015) and the suite
  can run next to other tests.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DURATION_CAP = float(os.environ.get("LUNAR_HIL_DOCTEST_DURATION", "4"))
UPLINK_DURATION_CAP = max(DURATION_CAP, 20.0)
IDLE_TIMEOUT_CAP = 2.0
FOREGROUND_TIMEOUT = 120.0
BACKGROUND_END_TIMEOUT = 30.0
READY_TIMEOUT = 15.0
NOT_RUN = (re.compile(r"^make(\s|$)"), re.compile(r"^python3?\s+benchmarks/"),
           re.compile(r"/dev/tty(USB|ACM)\d"))
FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"^<!--\s*doctest:\s*skip\b.*-->\s*$")


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    lines: list[str]
    skip: bool

    @property
    def name(self) -> str:
        return f"README.md:{self.line}"


def shell_blocks(text: str) -> list[Block]:
    """The ```sh and ```console blocks, with their commands joined and cleaned."""
    blocks: list[Block] = []
    rows = text.splitlines()
    i = 0
    while i < len(rows):
        m = FENCE.match(rows[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        body: list[str] = []
        i += 1
        while i < len(rows) and not rows[i].startswith("```"):
            body.append(rows[i])
            i += 1
        i += 1
        if lang not in ("sh", "console"):
            continue
        skip = start > 0 and bool(SKIP.match(rows[start - 1].strip()))
        blocks.append(Block(start + 1, commands(body), skip))
    return blocks


def commands(body: list[str]) -> list[str]:
    out: list[str] = []
    pending = ""
    for raw in body:
        line = raw.strip()
        if not pending and line.startswith("$ "):
            line = line[2:]
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line and not line.startswith("#"):
            out.append(line)
    return out


def strip_comment(line: str) -> str:
    """The line without a trailing ``# comment`` (a ``#`` outside quotes after a blank)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def capped(line: str) -> str:
    """Shorter durations for ``lunar-hil run`` and ``--idle-timeout``."""
    def cap_idle(m: re.Match[str]) -> str:
        return f"--idle-timeout {min(float(m.group(1)), IDLE_TIMEOUT_CAP):g}"

    line = re.sub(r"--idle-timeout[ =]([0-9.]+)", cap_idle, line)
    if not re.match(r"^lunar-hil\s+run\b", line):
        return line
    # A run with an uplink must outlast a telecommand's round trip (two light
    # times plus the sender's start-up), so it gets a longer cap.
    cap = UPLINK_DURATION_CAP if "--uplink" in line else DURATION_CAP
    if re.search(r"--duration[ =]", line):
        return re.sub(r"--duration[ =]([0-9.]+)",
                      lambda m: f"--duration {min(float(m.group(1)), cap):g}", line)
    head, sep, tail = line.partition(" &")
    return f"{head} --duration {cap:g}{sep}{tail}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PORT = re.compile(r"(?P<pre>(?:127\.0\.0\.1|0\.0\.0\.0|localhost):|-p\s+)(?P<port>\d{4,5})\b")


def remap_ports(line: str, ports: dict[str, int]) -> str:
    def sub(m: re.Match[str]) -> str:
        new = ports.setdefault(m.group("port"), free_port())
        return f"{m.group('pre')}{new}"

    return PORT.sub(sub, line)


def bound_ports() -> set[int]:
    """Ports with a listening TCP socket or a bound UDP socket (Linux /proc/net)."""
    found: set[int] = set()
    for name, want in (("tcp", "0A"), ("tcp6", "0A"), ("udp", None), ("udp6", None)):
        try:
            rows = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if want is None or cols[3] == want:
                found.add(int(cols[1].rsplit(":", 1)[1], 16))
    return found


def listening_ports(line: str) -> list[int]:
    ports = [int(p) for p in re.findall(r"(?<![+\w])(?:udp|tcp)://[^\s/:?']+:(\d+)", line)]
    ports += [int(p) for p in re.findall(r"\bmosquitto\s+-p\s+(\d+)", line)]
    return ports


@dataclass
class Background:
    line: str
    proc: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def start_reader(self) -> None:
        def read() -> None:
            assert self.proc.stdout is not None
            for text in self.proc.stdout:
                self.output.append(text)

        threading.Thread(target=read, daemon=True).start()

    def pty_path(self) -> str | None:
        for text in self.output:
            m = re.match(r"^(?:uplink )?pty: (/dev/pts/\d+)$", text.strip())
            if m:
                return m.group(1)
        return None


class Session:
    """One temporary directory where the README's blocks run in order."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        bin_dir = tmp / ".bin"
        bin_dir.mkdir()
        for name, target in (("lunar-hil", f"{shlex.quote(sys.executable)} -m "
                              "lunar_hil.emulator.cli"),
                             ("python", shlex.quote(sys.executable)),
                             ("python3", shlex.quote(sys.executable))):
            script = bin_dir / name
            script.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
            script.chmod(0o755)
        for name in ("examples", "profiles", "docs", "emulator", "benchmarks"):
            (tmp / name).symlink_to(ROOT / name)
        self.env = dict(os.environ)
        self.env["PATH"] = f"{bin_dir}:{self.env.get('PATH', '')}:/usr/sbin:/sbin"
        self.env["PYTHONUNBUFFERED"] = "1"

    def run_block(self, block: Block) -> list[str]:
        """Run one block; the problems found (empty when every command exited 0)."""
        problems: list[str] = []
        ports: dict[str, int] = {}
        background: list[Background] = []
        pty: str | None = None
        try:
            for original in block.lines:
                line = strip_comment(original)
                if any(p.search(line) for p in NOT_RUN):
                    continue
                line = remap_ports(capped(line), ports)
                if pty:
                    line = re.sub(r"/dev/pts/\d+", pty, line)
                if line.endswith("&") and not line.endswith("&&"):
                    bg = self.start(line[:-1].rstrip())
                    background.append(bg)
                    problem = self.wait_ready(bg)
                    if problem:
                        problems.append(problem)
                        break
                    pty = bg.pty_path() or pty
                    continue
                problem = self.foreground(line, original)
                if problem:
                    problems.append(problem)
                    break
        finally:
            problems += self.finish(background)
        return problems

    def start(self, line: str) -> Background:
        proc = subprocess.Popen(["bash", "-c", f"set -o pipefail; {line}"], cwd=self.tmp,
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        bg = Background(line, proc)
        bg.start_reader()
        return bg

    def wait_ready(self, bg: Background) -> str | None:
        deadline = time.monotonic() + READY_TIMEOUT
        wants_pty = re.search(r"--(?:out|uplink|port)\s+'?pty\b|^lunar-hil decode\b.*\spty(\s|$)",
                              bg.line) is not None
        ports = set(listening_ports(bg.line)) if bg.line.split()[0] in (
            "lunar-hil", "mosquitto") else set()
        while time.monotonic() < deadline:
            if bg.proc.poll() is not None and bg.proc.returncode != 0:
                return (f"`{bg.line} &` exited {bg.proc.returncode} at start: "
                        + "".join(bg.output)[-800:])
            pty_ok = not wants_pty or bg.pty_path() is not None
            if pty_ok and ports <= bound_ports():
                return None
            time.sleep(0.05)
        if wants_pty and bg.pty_path() is None:
            return f"`{bg.line} &` printed no 'pty: /dev/pts/N' in {READY_TIMEOUT:g} s"
        return None  # a port we guessed it would bind: go on, the next command tells

    def foreground(self, line: str, original: str) -> str | None:
        try:
            proc = subprocess.run(["bash", "-c", f"set -o pipefail; {line}"], cwd=self.tmp,
                                  env=self.env, capture_output=True, text=True,
                                  timeout=FOREGROUND_TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"`{line}` did not end in {FOREGROUND_TIMEOUT:g} s"
        if proc.returncode != 0:
            shown = line if line == original else f"{line}\n    (README: {original})"
            return f"`{shown}` exited {proc.returncode}: {(proc.stderr or proc.stdout)[-800:]}"
        return None

    def finish(self, background: list[Background]) -> list[str]:
        problems: list[str] = []
        for bg in background:
            ours = bg.line.split()[0] == "lunar-hil"
            if ours:
                try:
                    bg.proc.wait(timeout=BACKGROUND_END_TIMEOUT)
                except subprocess.TimeoutExpired:
                    problems.append(f"`{bg.line} &` did not end in {BACKGROUND_END_TIMEOUT:g} s")
                else:
                    if bg.proc.returncode != 0:
                        problems.append(f"`{bg.line} &` exited {bg.proc.returncode}: "
                                        + "".join(bg.output)[-800:])
            if bg.proc.poll() is None:
                os.killpg(bg.proc.pid, signal.SIGTERM)
                try:
                    bg.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(bg.proc.pid, signal.SIGKILL)
                    bg.proc.wait()
        return problems


# -- the convention's own rules, on made-up blocks --------------------------------


def test_blocks_lines_and_markers() -> None:
    text = "\n".join([
        "```sh", "$ lunar-hil profiles list", "# {\"output\": 1}",
        "lunar-hil run --profile x \\", "    --speed max   # comment", "```",
        "```yaml", "lunar-hil not: run", "```",
        "<!-- doctest: skip (needs a board) -->", "```console", "lunar-hil x", "```",
        "```", "lunar-hil usage", "```",
    ])
    blocks = shell_blocks(text)
    assert [(b.line, b.lines, b.skip) for b in blocks] == [
        (1, ["lunar-hil profiles list", "lunar-hil run --profile x  --speed max   # comment"],
         False),
        (11, ["lunar-hil x"], True),
    ]
    assert strip_comment("a 'b # c' # d") == "a 'b # c'"
    assert strip_comment("echo x#y") == "echo x#y"


def test_durations_are_capped() -> None:
    assert capped("lunar-hil run --profile a --duration 600 --out f") == (
        f"lunar-hil run --profile a --duration {DURATION_CAP:g} --out f")
    assert capped("lunar-hil run --profile a --duration 0.5") == "lunar-hil run --profile a --duration 0.5"
    assert capped("lunar-hil run --profile a --out tcp://h:1 &") == (
        f"lunar-hil run --profile a --out tcp://h:1 --duration {DURATION_CAP:g} &")
    assert capped("lunar-hil decode --profile a udp://h:1 --idle-timeout 5 --json") == (
        "lunar-hil decode --profile a udp://h:1 --idle-timeout 2 --json")
    assert capped("lunar-hil profiles list") == "lunar-hil profiles list"


def test_ports_are_remapped_consistently() -> None:
    ports: dict[str, int] = {}
    a = remap_ports("lunar-hil decode udp://127.0.0.1:5600 &", ports)
    b = remap_ports("lunar-hil run --out udp://127.0.0.1:5600 --out mqtt://127.0.0.1:1883/x", ports)
    c = remap_ports("mosquitto -p 1883 &", ports)
    assert set(ports) == {"5600", "1883"}
    assert a == f"lunar-hil decode udp://127.0.0.1:{ports['5600']} &"
    assert b == (f"lunar-hil run --out udp://127.0.0.1:{ports['5600']} "
                 f"--out mqtt://127.0.0.1:{ports['1883']}/x")
    assert c == f"mosquitto -p {ports['1883']} &"
    assert listening_ports("lunar-hil decode --profile a tcp+connect://127.0.0.1:7 --json") == []
    assert listening_ports("lunar-hil run --out 'tcp://0.0.0.0:9?layer=packets'") == [9]


# -- the README itself ----------------------------------------------------------------


INDEPENDENT = "<!-- doctest: subsections independent -->"


def chapters(text: str) -> dict[str, list[Block]]:
    """The shell blocks grouped by the README's ``## `` sections, in order; a
    section holding the marker :data:`INDEPENDENT` is grouped by its ``### ``
    subsections instead."""
    rows = text.splitlines()
    heads: list[tuple[int, str]] = []
    split = False
    for i, row in enumerate(rows):
        if row.startswith("## "):
            title = row[3:].strip()
            end = next((j for j in range(i + 1, len(rows)) if rows[j].startswith("## ")), len(rows))
            split = any(r.strip() == INDEPENDENT for r in rows[i:end])
            heads.append((i + 1, title))
        elif row.startswith("### ") and split:
            heads.append((i + 1, f"{heads[-1][1].split(' / ')[0]} / {row[4:].strip()}"))
    out: dict[str, list[Block]] = {}
    for block in shell_blocks(text):
        title = next((t for line, t in reversed(heads) if line < block.line), "(top)")
        out.setdefault(title, []).append(block)
    return out


CHAPTERS = chapters(README.read_text())


def test_the_readme_has_its_examples() -> None:
    assert sum(len(b) for b in CHAPTERS.values()) >= 5, "the README lost its examples"


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_every_shell_block_in_the_readme_exits_0(tmp_path: Path, chapter: str) -> None:
    """Each ``## `` section runs in its own directory, top to bottom (a block may
    read an earlier block's files in the same section, as a reader following
    along would), so the sections can run in parallel."""
    session = Session(tmp_path)
    failures: list[str] = []
    for block in CHAPTERS[chapter]:
        if block.skip:
            continue
        failures += [f"{block.name}: {p}" for p in session.run_block(block)]
    assert not failures, "\n\n".join(failures)


if __name__ == "__main__":  # pragma: no cover - print what would run
    for b in shell_blocks(README.read_text()):
        print(f"--- {b.name}{' (skipped)' if b.skip else ''}")
        for cmd in b.lines:
            print("  " + capped(strip_comment(cmd)))


"""The drivers as the `lunar-hil run --out URL` user meets them: a bad URL, an
unreachable host or a missing device is one line on stderr and exit 2 (fixable
before starting again), never a traceback; `--out pty` prints its path at once."""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

REPO = Path(__file__).resolve().parents[2]
RUN = [sys.executable, "-m", "lunar_hil.emulator.cli", "run", "--profile", "apex-1.0", "--band", "X"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CASES = [
    ("bogus://x", 2, "bogus://x: unknown scheme 'bogus'"),
    ("udp://127.0.0.1", 2, "udp://127.0.0.1: port missing"),
    # run fills in the band's symbol rate (APEX 1.0 X: 2 Msym/s), so this rate is too low.
    ("iq:{tmp}/x.cf32?samp_rate=1000000", 2, "samp_rate 1000000 must be a whole multiple (>= 8) of baud 2000000"),
    ("iq:{tmp}/x.cf32?samp_rate=1000000&baud=300000", 2, "must be a whole multiple"),
    ("tcp+connect://127.0.0.1:{port}", 2, "tcp+connect://127.0.0.1:{port}: cannot open"),
    ("mqtt://127.0.0.1:{port}/hil", 2, "mqtt://127.0.0.1:{port}/hil: cannot open"),
    ("serial:{tmp}/no-such-tty?baud=115200", 2, "no-such-tty?baud=115200: cannot open"),
    ("file:{tmp}/no/such/dir/out.bin", 2, "out.bin: cannot open for writing"),
    # A directory cannot be opened for writing: the same code as decode --params-out on it.
    ("file:{tmp}", 2, "cannot open for writing"),
]


@pytest.mark.parametrize(("out", "code", "message"), CASES)
def test_bad_outputs_are_one_line_errors(tmp_path: Path, out: str, code: int, message: str) -> None:
    port = closed_port()
    out = out.format(port=port, tmp=tmp_path)
    message = message.format(port=port, tmp=tmp_path)
    proc = subprocess.run(
        [*RUN, "--duration", "1", "--speed", "max", "--out", out, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]


def test_run_out_pty_prints_the_path_and_streams_cadus() -> None:
    proc = subprocess.Popen(
        [*RUN, "--duration", "2", "--speed", "1", "--out", "pty", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "no 'pty:' line within 30 s"
        line = proc.stdout.readline().decode()
        match = re.fullmatch(r"pty: (/dev/pts/\d+)\n", line)
        assert match is not None, line
        board = serial.Serial(match.group(1), timeout=0)
        received = bytearray()
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([board.fileno()], [], [], 0.5)
                if not ready:
                    if proc.poll() is not None:
                        break
                    continue
                try:
                    chunk = os.read(board.fileno(), 65536)
                except OSError:  # the emulator closed the pty: the stream is over
                    break
                if not chunk:
                    break
                received += chunk
        finally:
            board.close()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["bytes_out"] == len(received) > 0
    assert received[:4] == bytes.fromhex("1ACFFC1D")  # ASM (131.0 §9.3)

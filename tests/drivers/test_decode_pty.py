"""``decode pty`` and ``decode serial:``: a ground station on a serial line.

decode makes a real pseudo-terminal, prints its path, and a real ``run`` writes
the conv-coded S band into it with ``--out serial:PATH``; decode must report
every frame the run sent and the same packets as a decode of the run's file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]
RUN = ["run", "--profile", "hakuto-r-m1", "--band", "S", "--ideal-link", "--speed", "max",
       "--duration", "20", "--json"]


def _path_printed(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.match(r"^pty: (/dev/pts/\d+)$", line.strip())
        if m:
            return m.group(1)
    raise AssertionError("decode pty printed no 'pty: /dev/pts/N'")


def test_decode_reads_a_pty_that_run_writes_as_a_serial_port(tmp_path: Path) -> None:
    ref = tmp_path / "ref.bin"
    sent = json.loads(subprocess.run([*CLI, *RUN, "--out", f"file:{ref}"], capture_output=True,
                                     text=True, timeout=120, check=True).stdout)
    expected = json.loads(subprocess.run(
        [*CLI, "decode", "--profile", "hakuto-r-m1", "--band", "S", str(ref), "--json"],
        capture_output=True, text=True, timeout=120, check=True).stdout)
    decoder = subprocess.Popen([*CLI, "decode", "--profile", "hakuto-r-m1", "--band", "S", "pty",
                                "--idle-timeout", "2", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = _path_printed(decoder)
        run = subprocess.run([*CLI, *RUN, "--out", f"serial:{path}?baud=115200"],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        out, err = decoder.communicate(timeout=60)
    finally:
        decoder.kill()
    assert decoder.returncode == 0, err
    got = json.loads(out.strip().splitlines()[-1])
    assert sent["frames"] > 100
    assert got["cadus"] == got["frames_ok"] == sent["frames"] == expected["frames_ok"]
    assert got["packets_by_apid"] == expected["packets_by_apid"]
    assert got["bytes_in"] == ref.stat().st_size


def test_decode_refuses_a_source_it_cannot_read(tmp_path: Path) -> None:
    proc = subprocess.run([*CLI, "decode", "--profile", "apex-1.0", "iq:x.cf32?samp_rate=8000000"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "decode reads" in proc.stderr, proc.stderr

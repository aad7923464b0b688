"""``lunar-hil decode`` over real loopback sockets: UDP and TCP sources.

The decoder runs as its own process (as a user would run it); ``lunar-hil
run`` streams into it. The decoded packet count must equal what the run sent.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_listening(proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """decode prints 'decode: listening on URL' on stderr once its socket is open."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "listening on" in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"decode exited early: {proc.stderr.read()}")
    raise AssertionError("decode never said it was listening")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_decode_from_a_network_source(transport: str):
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    port = free_port(kind)
    source = f"{transport}://127.0.0.1:{port}"
    out_url = f"udp://127.0.0.1:{port}" if transport == "udp" else f"tcp+connect://127.0.0.1:{port}"
    decoder = subprocess.Popen(
        [*CLI, "decode", "--profile", "hakuto-r-m1", "--band", "S", source, "--json",
         "--idle-timeout", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_until_listening(decoder)
        # Paced (x20) so a UDP receiver in Python keeps up: UDP has no backpressure.
        run = subprocess.run(
            [*CLI, "run", "--profile", "hakuto-r-m1", "--band", "S", "--speed", "20",
             "--duration", "40", "--json", "--out", out_url],
            capture_output=True, text=True, timeout=120,
        )
        assert run.returncode == 0, run.stderr
        sent = json.loads(run.stdout.strip().splitlines()[-1])
        out, err = decoder.communicate(timeout=60)
    finally:
        if decoder.poll() is None:
            decoder.kill()
    assert decoder.returncode == 0, err
    got = json.loads(out.strip().splitlines()[-1])
    assert got["frames_ok"] == sent["frames"] > 0
    assert got["packets"] == sent["packets"] > 0
    assert got["crc_errors"] == got["rs_uncorrectable"] == 0

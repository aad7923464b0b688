"""Reliability of real ``lunar-hil`` processes: signals, TCP clients, determinism.

Every test drives the CLI in a subprocess (real files, real sockets, real
signals) and checks what the summary claims against what really arrived.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]


def wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def long_run(*outs: str) -> list[str]:
    """A run that would take minutes at max speed: a signal ends it."""
    cmd = [*CLI, "run", "--profile", "apex-1.0", "--duration", "86400", "--idle",
           "--speed", "max", "--json"]
    for out in outs:
        cmd += ["--out", out]
    return cmd


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_flushes_and_the_summary_equals_the_file(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    out = tmp_path / "run.cadu"
    proc = subprocess.Popen(long_run(f"file:{out}"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: out.exists() and out.stat().st_size > 5_000_000)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["interrupted"] == sig.name
    (sink,) = summary["sinks"]
    assert sink["bytes_out"] == out.stat().st_size > 0
    assert sink["dropped_bytes"] == 0 and sink["queued_bytes"] == 0


def test_sigterm_with_a_tcp_client_flushes_to_it_without_traceback(tmp_path: Path) -> None:
    """tcp:// prints its port; a connected client gets exactly what the summary
    says went out, and the exit has no CancelledError traceback."""
    out = tmp_path / "run.cadu"
    proc = subprocess.Popen(long_run("tcp://127.0.0.1:0", f"file:{out}"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    received = [0]
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("listening: 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        client = socket.create_connection(("127.0.0.1", port))

        def read() -> None:
            while chunk := client.recv(1 << 20):
                received[0] += len(chunk)

        reader = threading.Thread(target=read)
        reader.start()
        wait_for(lambda: received[0] > 5_000_000)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
        reader.join(10)
        client.close()
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "CancelledError" not in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    tcp, file = summary["sinks"]
    assert tcp["url"] == "tcp://127.0.0.1:0"
    assert tcp["bytes_out"] == received[0]
    assert tcp["lost_bytes"] == tcp["dropped_bytes"] == tcp["stalled_clients"] == 0
    assert file["bytes_out"] == out.stat().st_size


def test_decode_prints_its_counters_on_ctrl_c(tmp_path: Path) -> None:
    port_probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    port_probe.bind(("127.0.0.1", 0))
    port = port_probe.getsockname()[1]
    port_probe.close()
    proc = subprocess.Popen([*CLI, "decode", "--profile", "apex-1.0", f"udp://127.0.0.1:{port}",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("decode: listening on")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for _ in range(20):
                tx.sendto(os.urandom(1000), ("127.0.0.1", port))
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["interrupted"] == "SIGINT"
    assert summary["bytes_in"] == 20_000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.parametrize("scheme", ["tcp", "udp"])
def test_asm_flood_into_network_decode_keeps_memory_bounded(scheme: str) -> None:
    """A peer sending sync markers as fast as it can: TCP is held back, UDP
    drops are counted, and the decoder's RSS stays under 300 MB."""
    kind = socket.SOCK_STREAM if scheme == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([*CLI, "decode", "--profile", "apex-1.0", f"{scheme}://127.0.0.1:{port}",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    flood = bytes.fromhex("1ACFFC1D") * 2048  # 8 KiB of ASMs
    sent = 0
    peak = 0.0
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("decode: listening on")
        tx = socket.socket(socket.AF_INET, kind)
        if scheme == "tcp":
            tx.connect(("127.0.0.1", port))
            tx.setblocking(False)
        end = time.monotonic() + 6
        next_sample = 0.0
        while time.monotonic() < end:
            try:
                if scheme == "tcp":
                    sent += tx.send(flood)
                else:
                    sent += tx.sendto(flood, ("127.0.0.1", port))
            except (BlockingIOError, ConnectionRefusedError):
                time.sleep(0.001)
            if time.monotonic() > next_sample:
                peak = max(peak, rss_mb(proc.pid))
                next_sample = time.monotonic() + 0.1
        peak = max(peak, rss_mb(proc.pid))
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        tx.close()
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert peak < 300, peak
    assert sent > 8 * 1024 * 1024  # the flood exceeded the decoder's bound
    if scheme == "udp":
        # Every datagram is decoded, waiting, or counted as dropped.
        assert summary["dropped_datagrams"] > 0
        assert summary["datagrams"] + summary["dropped_datagrams"] <= sent // len(flood)
    else:
        assert summary["bytes_in"] <= sent


def test_same_bytes_at_every_speed(tmp_path: Path) -> None:
    """Output is a function of sim time only: speed 5, 50 and max --idle write
    the same file (20 s of sim time keeps speed 5 at about 4 s of wall time)."""
    files = {}
    procs = []
    for speed in (["5"], ["50"], ["max", "--idle"]):
        out = tmp_path / f"{speed[0]}.cadu"
        files[speed[0]] = out
        procs.append(subprocess.Popen(
            [*CLI, "run", "--profile", "apex-1.0", "--duration", "20", "--speed", *speed,
             "--out", f"file:{out}", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    data = {k: v.read_bytes() for k, v in files.items()}
    assert len(data["max"]) > 0
    for speed in ("5", "50"):
        a, b = data[speed], data["max"]
        first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
        assert a == b, f"speed {speed}: {len(a)} vs {len(b)} bytes, first difference at byte {first}"

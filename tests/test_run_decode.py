"""``lunar-hil run`` and ``lunar-hil decode`` through the real command line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from lunar_hil.emulator.cli import main

LUNAR_HIL = [sys.executable, "-m", "lunar_hil.emulator.cli"]


def run_json(capsys, *args: str) -> dict:
    rc = main(list(args))
    out = capsys.readouterr().out
    assert rc == 0, out
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("profile", "band", "scenario"),
    [
        ("apex-1.0", "X", "surface-nominal"),
        ("series-3", "Ka", "surface-nominal"),
        ("hakuto-r-m1", "S", "descent"),
        ("lupex", "X", "surface-nominal"),
        ("series-2", "S", "relay-deployment"),
    ],
)
def test_decode_recovers_every_packet_the_run_sent(tmp_path: Path, capsys, profile, band, scenario):
    out = tmp_path / "stream.bin"
    packets = tmp_path / "packets.bin"
    params = tmp_path / "params.jsonl"
    summary = run_json(capsys, "run", "--profile", profile, "--band", band, "--scenario", scenario,
                       "--speed", "max", "--duration", "240", "--seed", "7",
                       "--out", f"file:{out}", "--json")
    for key in ("sim_seconds", "wall_seconds", "frames", "idle_frames", "packets", "bytes_out"):
        assert key in summary
    assert summary["bytes_out"] == out.stat().st_size > 0
    assert summary["idle_frames"] == 0  # max speed without --idle
    decoded = run_json(capsys, "decode", "--profile", profile, "--band", band, str(out), "--json",
                       "--packets-out", str(packets), "--params-out", str(params))
    for key in ("cadus", "frames_ok", "rs_corrected_symbols", "rs_uncorrectable", "crc_errors",
                "packets", "packets_by_apid"):
        assert key in decoded
    assert decoded["cadus"] == decoded["frames_ok"] == summary["frames"]
    assert decoded["rs_uncorrectable"] == decoded["crc_errors"] == 0
    assert decoded["packets"] == summary["packets"] > 0
    assert sum(decoded["packets_by_apid"].values()) == summary["packets"]
    lines = params.read_text().splitlines()
    assert len(lines) == summary["packets"]
    recs = [json.loads(line) for line in lines]
    assert {"apid", "seq", "time", "params"} <= set(recs[0])
    assert all(r["params"] for r in recs)
    # --packets-out holds exactly the packets, back to back: walk their headers.
    blob = packets.read_bytes()
    n, pos = 0, 0
    while pos < len(blob):
        pos += ((blob[pos + 4] << 8) | blob[pos + 5]) + 7
        n += 1
    assert pos == len(blob) and n == summary["packets"]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, capsys):
    files = []
    for i, seed in enumerate((3, 3, 4)):
        f = tmp_path / f"s{i}.bin"
        run_json(capsys, "run", "--profile", "apex-1.0", "--scenario", "descent", "--speed", "max",
                 "--duration", "120", "--seed", str(seed), "--out", f"file:{f}", "--json")
        files.append(f.read_bytes())
    assert files[0] == files[1]
    assert files[0] != files[2]


@pytest.mark.parametrize(("profile", "overloaded"), [("hakuto-r-m1", False), ("apex-1.0", True)])
def test_full_link_follows_the_bit_rate(tmp_path: Path, capsys, profile, overloaded):
    """A full link sends exactly floor(t F) frames: idle fill when telemetry is
    short, an on-board backlog when it is long (APEX's S band carries science)."""
    f = tmp_path / "full.bin"
    # --ideal-link: the link model would stop APEX's S band (far side, direct to
    # Earth only); this test is about the frame clock, not the geometry.
    summary = run_json(capsys, "run", "--profile", profile, "--band", "S", "--speed", "max",
                       "--idle", "--ideal-link", "--duration", "30", "--out", f"file:{f}", "--json")
    from lunar_hil.emulator.binding import band_setup, pick_band
    from lunar_hil.profiles.loader import load_profile

    setup = band_setup(pick_band(load_profile(profile), "S"))
    expected = math.floor(30 * setup.frames_per_second + 1e-9)
    assert summary["frames"] == expected
    assert summary["bytes_out"] == expected * setup.coding.channel_bytes_per_frame
    if overloaded:
        assert summary["idle_frames"] == 0
        assert summary["backlog_bytes"] > 0 and summary["backlog_packets"] > 0
    else:
        assert summary["idle_frames"] > 0
        assert summary["backlog_packets"] == 0
    decoded = run_json(capsys, "decode", "--profile", profile, "--band", "S", str(f), "--json")
    assert decoded["packets"] == summary["packets"]


def test_noisy_link_is_corrected_and_counted(tmp_path: Path, capsys):
    f = tmp_path / "noisy.bin"
    summary = run_json(capsys, "run", "--profile", "apex-1.0", "--speed", "max", "--duration", "120",
                       "--ber", "1e-4", "--out", f"file:{f}", "--json")
    decoded = run_json(capsys, "decode", "--profile", "apex-1.0", str(f), "--json")
    assert decoded["rs_corrected_symbols"] > 0
    assert decoded["packets"] == summary["packets"]


def test_embedded_receiver_run_json(capsys):
    summary = run_json(capsys, "run", "--profile", "lupex", "--speed", "max", "--duration", "60",
                       "--json")
    assert summary["receiver"]["packets"] == summary["packets"]
    assert summary["receiver"]["frames_ok"] == summary["frames"]


def test_crash_ends_the_stream(tmp_path: Path, capsys):
    summary = run_json(capsys, "run", "--profile", "hakuto-r-m1", "--scenario", "descent-lrf-anomaly",
                       "--speed", "max", "--json", "--out", f"file:{tmp_path / 'm1.bin'}")
    assert summary.get("finished_reason") == "lander lost"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--profile", "no-such-lander"], "no-such-lander"),
        (["run", "--profile", "apex-1.0", "--band", "Q"], "--band"),
        (["run", "--profile", "apex-1.0", "--speed", "fast"], "--speed"),
        (["run", "--profile", "apex-1.0", "--duration", "-5"], "--duration"),
        (["run", "--profile", "apex-1.0", "--fault", "bogus@@"], "bogus"),
        (["run", "--profile", "apex-1.0", "--scenario", "no-such-scenario"], "no-such-scenario"),
        (["run", "--profile", "apex-1.0", "--out", "gopher://x"], "gopher"),
        (["run", "--profile", "apex-1.0", "--out", "udp://127.0.0.1"], "udp://127.0.0.1"),
        (["decode", "--profile", "apex-1.0", "/nonexistent/stream.bin"], "/nonexistent/stream.bin"),
        (["run"], "--profile"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle):
    proc = subprocess.run([*LUNAR_HIL, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_conv_band_file_shifted_by_one_bit_decodes(tmp_path: Path, capsys):
    """Issue 8: HAKUTO-R M1 S (RS + r=1/2 K=7) written to a file, then every bit moved
    one place earlier (the stream now starts on the G2 symbol of a pair): decode
    finds the pairing and gets every CADU but the first, whose first symbol is gone."""
    import numpy as np

    out = tmp_path / "m1.bin"
    summary = run_json(capsys, "run", "--profile", "hakuto-r-m1", "--band", "S", "--ideal-link",
                       "--speed", "max", "--duration", "20", "--out", f"file:{out}", "--json")
    frames = summary["frames"]
    assert frames > 100
    bits = np.unpackbits(np.fromfile(out, dtype=np.uint8))
    shifted = tmp_path / "m1-shifted.bin"
    np.packbits(bits[1:]).tofile(shifted)
    whole_pk, cut_pk = tmp_path / "whole.pk", tmp_path / "cut.pk"
    whole = run_json(capsys, "decode", "--profile", "hakuto-r-m1", "--band", "S", str(out),
                     "--json", "--packets-out", str(whole_pk))
    cut = run_json(capsys, "decode", "--profile", "hakuto-r-m1", "--band", "S", str(shifted),
                   "--json", "--packets-out", str(cut_pk))
    assert whole["frames_ok"] == frames and whole["viterbi_realignments"] == 0
    assert cut["cadus"] == cut["frames_ok"] == frames - 1
    assert cut["viterbi_realignments"] == 1
    assert cut["rs_uncorrectable"] == cut["crc_errors"] == 0
    # The packets after the first frame come out byte for byte: a tail of the uncut ones.
    a, b = whole_pk.read_bytes(), cut_pk.read_bytes()
    assert 0 < len(b) < len(a) and a.endswith(b)

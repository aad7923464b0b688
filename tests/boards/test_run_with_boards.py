"""``lunar-hil run --board KIND=URL`` with virtual boards on REAL ptys.

* A GNC board flies APEX 1.0's descent in lockstep; ``run --json`` reports its
  round trips and latency.
* A payload board, started by a telecommand replayed from a file
  (``--uplink file:``), streams records that arrive on the ground in the
  instrument's APID, decoded by ``lunar-hil decode``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lunar_hil.emulator.binding import band_setup, pick_band
from lunar_hil.emulator.ccsds.cltu import encode_cltu
from lunar_hil.emulator.ccsds.packets import scan_space_packets
from lunar_hil.emulator.ccsds.tc import TcFrame
from lunar_hil.emulator.uplink import CommandTable
from lunar_hil.profiles.loader import load_profile

CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]
PROFILE = "apex-1.0"
PAYLOAD_APID = 512  # APEX 1.0's PAYLOAD_SCIENCE (instrument customer_payloads)


@contextmanager
def vboard(kind: str) -> Iterator[str]:
    proc = subprocess.Popen([*CLI, "vboard", kind, "--port", "pty"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("pty: /dev/"), line
        yield line.removeprefix("pty: ")
    finally:
        proc.terminate()
        proc.wait(10)


def test_run_with_a_gnc_board_reports_its_loop(tmp_path: Path) -> None:
    with vboard("gnc") as path:
        out = subprocess.run(
            [*CLI, "run", "--profile", PROFILE, "--scenario", "descent", "--speed", "max",
             "--duration", "900", "--board", f"gnc={path}", "--out", f"file:{tmp_path / 'd.bin'}",
             "--json"],
            capture_output=True, text=True, timeout=300,
        )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    gnc = summary["boards"]["gnc"]
    assert gnc["round_trips"] > 1000  # one per 0.1 s control step of the descent
    assert gnc["timeouts"] == 0
    assert 0 < gnc["latency_ms_p50"] <= gnc["latency_ms_p99"]
    assert summary.get("finished_reason") != "lander lost"


def test_bad_board_option_is_a_one_line_error() -> None:
    out = subprocess.run([*CLI, "run", "--profile", PROFILE, "--board", "radio=/dev/null"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "lunar-hil: error: --board radio=/dev/null: unknown board kind 'radio' "
        "(known: gnc, payload, eps)"]


def test_payload_board_data_arrives_on_the_ground_in_its_apid(tmp_path: Path) -> None:
    profile = load_profile(PROFILE)
    setup = band_setup(pick_band(profile, None))
    table = CommandTable.from_profile(profile)
    start = TcFrame.bd(setup.scid, 0, 0, table.encode("INSTRUMENT_START", {"instrument": "0"}))
    uplink = tmp_path / "uplink.bin"
    uplink.write_bytes(encode_cltu(start.pack()))
    recording, packets_out = tmp_path / "d.bin", tmp_path / "packets.bin"
    with vboard("payload") as path:
        out = subprocess.run(
            [*CLI, "run", "--profile", PROFILE, "--scenario", "surface-nominal", "--speed", "1",
             "--duration", "4", "--board", f"payload={path}", "--uplink", f"file:{uplink}",
             "--out", f"file:{recording}", "--json"],
            capture_output=True, text=True, timeout=120,
        )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["uplink"]["commands_executed"] == 1
    assert summary["uplink"]["last_command"] == "INSTRUMENT_START"
    decoded = subprocess.run(
        [*CLI, "decode", "--profile", PROFILE, f"file:{recording}", "--packets-out",
         str(packets_out), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert decoded.returncode == 0, decoded.stderr
    counts = json.loads(decoded.stdout)["packets_by_apid"]
    assert counts.get(str(PAYLOAD_APID), 0) >= 3  # 2 records/s over ~3 s after the command
    packets, _skipped, _used = scan_space_packets(packets_out.read_bytes())
    board = [p for p in packets if p.apid == PAYLOAD_APID]
    assert len(board) == counts[str(PAYLOAD_APID)]
    # Each: CUC time (6 octets), the instrument index, then the board's 64-byte
    # record (its counter, the instrument, a ramp from the counter).
    for p in board:
        record = p.data[7:]
        n = int.from_bytes(record[:4], "big")
        assert p.data[6] == 0 and record[4] == 0 and len(record) == 64
        assert record[5:] == bytes((n + i) & 0xFF for i in range(59))
    assert [p.header.seq_count for p in board] == list(range(len(board)))


def test_uplink_on_a_pty_takes_cltus_written_by_a_ground_tool() -> None:
    profile = load_profile(PROFILE)
    setup = band_setup(pick_band(profile, None))
    table = CommandTable.from_profile(profile)
    cltu = encode_cltu(TcFrame.bd(setup.scid, 0, 0, table.encode("HEATER_ON", {})).pack())
    proc = subprocess.Popen(
        [*CLI, "run", "--profile", PROFILE, "--speed", "1", "--duration", "3",
         "--uplink", "pty", "--out", "file:/dev/null", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("uplink pty: /dev/"), line
    import os
    import tty

    fd = os.open(line.removeprefix("uplink pty: "), os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    os.write(fd, cltu)
    out, err = proc.communicate(timeout=60)
    os.close(fd)
    assert proc.returncode == 0, err
    uplink = json.loads(out)["uplink"]
    assert uplink["commands_executed"] == 1 and uplink["last_command"] == "HEATER_ON"
    assert uplink["farm_bd_accepted"] == 1


def test_a_gnc_board_that_stops_answering_shows_in_housekeeping(tmp_path: Path) -> None:
    """Timeout, counter, hold, fallback: the run reports them, the lander still
    flies on the built-in guidance, and the housekeeping's fault count (APID
    MODE_EVENTS) is 1 while the board is silent."""
    recording, params = tmp_path / "d.bin", tmp_path / "params.jsonl"
    proc = subprocess.Popen([*CLI, "vboard", "gnc", "--port", "pty", "--stop-after", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip().removeprefix("pty: ")
        out = subprocess.run(
            [*CLI, "run", "--profile", PROFILE, "--scenario", "descent", "--speed", "max",
             "--duration", "8", "--board", f"gnc={path}", "--out", f"file:{recording}",
             "--json"],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        proc.terminate()
        proc.wait(10)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    gnc = summary["boards"]["gnc"]
    assert gnc["round_trips"] == 30  # 3 s of 0.1 s steps, then silence
    assert gnc["timeouts"] >= 5 and gnc["retries"] >= 5
    kinds = [e["kind"] for e in summary["board_events"]]
    assert kinds[:3] == ["board_timeout", "board_hold_last_command", "board_timeout"]
    assert "board_fallback" in kinds
    first_timeout = min(e["t_s"] for e in summary["board_events"])
    assert 2.9 <= first_timeout <= 3.2
    decoded = subprocess.run(
        [*CLI, "decode", "--profile", PROFILE, f"file:{recording}", "--params-out", str(params),
         "--json"], capture_output=True, text=True, timeout=120)
    assert decoded.returncode == 0, decoded.stderr
    rows = [json.loads(line)["params"] for line in params.read_text().splitlines()]
    faults = [(r["MODE_MET_S"], r["MODE_FAULT_COUNT"]) for r in rows if "MODE_FAULT_COUNT" in r]
    assert len(faults) >= 6
    assert all(count == 0 for met, count in faults if met <= 2)
    assert all(count == 1 for met, count in faults if met >= 4)

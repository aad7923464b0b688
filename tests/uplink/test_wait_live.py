"""FARM-1's Wait against a running emulator: a burst of 12 Type-AD CLTUs in one
UDP datagram to ``run --uplink``, at 1x (one engine block is 0.1 s of sim time).

Worked by hand from the documented figures (buffer of 8 frames, 10 commands per
sim second): the processor is idle, so it takes frame 0 at once; frames 1..8
fill the 8 places; frames 9, 10 and 11 find the buffer full: FARM-1 goes to
Wait and discards them. 9 commands execute, N(R) ends at 9, and the CLCW in the
downlink shows Wait = 1 in the block after the burst, then 0 once the
processor took the next command (0.1 s later)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from lunar_hil.emulator.binding import band_setup, pick_band
from lunar_hil.emulator.ccsds.cltu import encode_cltu
from lunar_hil.emulator.ccsds.receiver import Receiver
from lunar_hil.emulator.ccsds.tc import TcFrame
from lunar_hil.emulator.uplink import CommandTable
from lunar_hil.profiles.loader import load_profile

CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]
WAIT_BIT = 1 << (31 - 19)  # CCSDS 232.0 §4.2.1: Wait is CLCW bit 19 (bit 0 first)


def test_a_burst_raises_wait_in_the_downlink_clcw(tmp_path: Path) -> None:
    profile = load_profile("apex-1.0")
    setup = band_setup(pick_band(profile, "X"))
    table = CommandTable.from_profile(profile)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        uplink = s.getsockname()[1]
    rec = tmp_path / "rec.bin"
    run = subprocess.Popen(
        [*CLI, "run", "--profile", "apex-1.0", "--band", "X", "--speed", "1", "--duration", "6",
         "--ideal-link", "--out", f"file:{rec}", "--uplink", f"udp://127.0.0.1:{uplink}",
         "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.5)
        burst = b"".join(
            encode_cltu(TcFrame.ad(setup.scid, 0, ns,
                                   table.encode("HEATER_ON" if ns % 2 == 0 else "HEATER_OFF", {}))
                        .pack()) for ns in range(12))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(burst, ("127.0.0.1", uplink))
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    assert run.returncode == 0, err
    up = json.loads(out.strip().splitlines()[-1])["uplink"]
    assert (up["commands_executed"], up["wait_discarded"], up["wait_episodes"]) == (9, 3, 1)
    assert up["clcw_nr"] == 9 and up["buffer_peak"] == 8
    rx = Receiver(setup.coding, scid=setup.scid, idle_vcid=setup.idle_vcid, keep_frames=False)
    data = rec.read_bytes()
    seen: list[tuple[bool, int]] = []
    step = 4 * (4 + 1115 + 160)  # four CADUs at a time: the CLCW of each small batch
    for start in range(0, len(data), step):
        batch = rx.feed(data[start : start + step])
        if batch.clcw is not None:
            state = (bool(batch.clcw & WAIT_BIT), batch.clcw & 0xFF)
            if not seen or seen[-1] != state:
                seen.append(state)
    assert seen == [(False, 0), (True, 9), (False, 9)]

"""A relay with no ground station in view stores the lander's frames and
forwards them when a station comes back: its own finite buffer and counters.

APEX 1.0 on X goes through Lupine at this epoch (the schedule's path 2). The
test makes Lupine lose every station for schedule steps 4..7 (30 s steps:
120 s to 240 s), as the links model marks such periods (``relay_store``)."""

from __future__ import annotations

import argparse
import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np

from lunar_hil.emulator.binding import band_setup, pick_band
from lunar_hil.emulator.ccsds.receiver import Receiver
from lunar_hil.emulator.commands.run import build_emulator, register
from lunar_hil.emulator.downlink.linked import LinkedEmulator, RelayBuffer
from lunar_hil.profiles.loader import load_profile

HOLD = slice(4, 8)  # schedule steps of 30 s: 120 s .. 240 s
STEP_S = 30.0
X_FPS = 2_000_000 / (8 * (4 + 1115 + 32 * 5))  # APEX X: CADUs per second


def _emulator(out: Path, *extra: str) -> LinkedEmulator:
    ap = argparse.ArgumentParser()
    register(ap.add_subparsers())
    args = ap.parse_args(["run", "--profile", "apex-1.0", "--band", "X", "--speed", "max",
                          "--duration", "360", "--out", f"file:{out}", *extra])
    args.profile = args.profile[0]
    emu, _rs, _rig, _ = build_emulator(args)
    assert isinstance(emu, LinkedEmulator)
    lupine = [r.name for r in emu.schedule.relays].index("Lupine")
    assert (emu._tl.path_index == 1 + lupine).all()  # the path this test relies on
    emu._deliver[HOLD] = False
    emu._hold[HOLD] = True
    emu._relay_forward[lupine, HOLD] = False
    return emu


def _decode(data: bytes) -> tuple[Any, list[bytes]]:
    setup = band_setup(pick_band(load_profile("apex-1.0"), "X"))
    rx = Receiver(setup.coding, scid=setup.scid, idle_vcid=setup.idle_vcid, keep_frames=False)
    packets = rx.feed(data).packets + rx.flush().packets
    return rx.counters, packets


def test_relay_holds_frames_while_it_sees_no_station_and_forwards_them(tmp_path: Path) -> None:
    out = tmp_path / "x.bin"
    emu = _emulator(out, "--idle")
    summary = asyncio.run(emu.run())
    relay = summary["link"]["relays"]["Lupine"]
    # Full link: one frame per slot; the slots of 120..240 s are the relay's,
    # idle frames left out (a relay does not keep fill).
    # Mux periods of 0.1 s (20 slots) that start in 120..240 s.
    period = round(0.1 * X_FPS)
    held_slots = (math.ceil(8 * STEP_S * X_FPS / period)
                  - math.ceil(4 * STEP_S * X_FPS / period)) * period
    assert 0 < relay["stored_frames"] < held_slots
    assert relay["forwarded_frames"] == relay["stored_frames"] and relay["frames"] == 0
    assert relay["overflow_frames"] == 0
    counters, packets = _decode(out.read_bytes())
    # Every slot outside the hold, plus what the relay forwarded, reached the ground.
    assert counters.cadus == emu.end_frame - held_slots + relay["stored_frames"]
    assert counters.rs_uncorrectable == 0
    # Forwarded at the first period Lupine sees a station (240 s), before the
    # frames made after it: every packet arrives once, in order per APID.
    seqs: dict[int, list[int]] = {}
    for p in packets:
        seqs.setdefault(((p[0] & 7) << 8) | p[1], []).append(((p[2] & 0x3F) << 8) | p[3])
    assert sum(len(s) for s in seqs.values()) == emu._sampled_packets
    for apid, s in seqs.items():
        assert s == list(range(s[0], s[0] + len(s))), apid
    assert summary["link"]["stored_packets"] == 0  # the lander's own store was not used


def test_relay_buffer_overflow_is_counted_and_conserved(tmp_path: Path) -> None:
    """Frames made = frames delivered + frames the full relay could not keep:
    the same run with room for every frame is the reference."""
    full = _emulator(tmp_path / "a.bin", "--idle")
    asyncio.run(full.run())
    reference, _ = _decode((tmp_path / "a.bin").read_bytes())
    small = _emulator(tmp_path / "b.bin", "--idle")
    small.relays["Lupine"].capacity_bytes = 40 * 1115  # 40 X frames
    summary = asyncio.run(small.run())
    relay = summary["link"]["relays"]["Lupine"]
    assert relay["stored_frames"] == relay["forwarded_frames"] == 40
    counters, packets = _decode((tmp_path / "b.bin").read_bytes())
    assert counters.cadus == summary["frames"]
    assert counters.cadus + relay["overflow_frames"] == reference.cadus
    assert len(packets) < small._sampled_packets  # what overflowed is lost, not hidden


def test_relay_buffer_keeps_the_oldest_frames() -> None:
    buf = RelayBuffer("r", capacity_bytes=10 * 4)
    a = np.arange(24, dtype=np.uint8).reshape(6, 4)
    b = np.arange(100, 124, dtype=np.uint8).reshape(6, 4)
    buf.put("X", a)
    buf.put("X", b)  # 4 of 6 fit
    assert (buf.stored_frames, buf.overflow_frames, buf.frames) == (10, 2, 10)
    assert buf.take("S") is None
    got = buf.take("X")
    assert got is not None and got.tobytes() == a.tobytes() + b[:4].tobytes()
    assert (buf.frames, buf.bytes, buf.forwarded_frames) == (0, 0, 10)

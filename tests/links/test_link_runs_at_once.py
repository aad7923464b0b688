"""At max speed without idle frames the linked engine moves runs of mux periods
with one link state at once; the output must be that of the period-by-period
loop, byte for byte and counter for counter."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from lunar_hil.emulator.commands.run import build_emulator, register
from lunar_hil.emulator.downlink.linked import LinkedEmulator

#: Schedule steps (30 s) without a path: single steps (shorter than a 60 s mux
#: period), pairs and a long outage.
OUTAGES = [3, 9, 10, 11, 12, 30, 31, 40, 41, 42, 43, 44, 45, 46, 47, 60, 70]


def _emulator(out: str) -> LinkedEmulator:
    ap = argparse.ArgumentParser()
    register(ap.add_subparsers())
    args = ap.parse_args(["run", "--profile", "lupex", "--band", "X", "--speed", "max",
                          "--duration", "2400", "--out", out])
    if isinstance(args.profile, list):
        args.profile = args.profile[0]
    emu, _rs, _rig, _ = build_emulator(args)
    assert isinstance(emu, LinkedEmulator)
    return emu


@pytest.mark.parametrize("store_bytes", [3_000, 60_000, 400_000, 64 * 1024 * 1024])
def test_runs_of_periods_at_once_equal_period_by_period(tmp_path: Path, store_bytes: int) -> None:
    """Outages of one schedule step and long ones, a store that overflows (at
    several fill levels) or not, channel errors drawn per pulled batch; the
    runs are also coded in pieces of about 100 frames."""
    outs = {}
    for bulk in (True, False):
        f = tmp_path / f"{bulk}.bin"
        emu = _emulator(f"file:{f}")
        emu.bulk_runs = bulk
        if bulk:
            emu.ENCODE_FRAMES = 100  # type: ignore[misc]  # coded in pieces: same bytes
        emu.block_periods = 7
        emu._deliver[OUTAGES] = False
        emu.store.capacity_bytes = store_bytes
        emu._tl.ber[20:50] = 1e-5
        s = asyncio.run(emu.run())
        s.pop("wall_seconds")
        s.pop("sinks", None)
        outs[bulk] = (f.read_bytes(), s)
    link = outs[True][1]["link"]
    assert link["channel_bit_errors"] > 0 and link["played_back_packets"] > 0
    assert (link["overflow_packets"] > 0) == (store_bytes < 1_000_000)
    assert outs[True][1] == outs[False][1]
    assert len(outs[True][0]) > 0
    assert outs[True][0] == outs[False][0]

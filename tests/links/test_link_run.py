"""``run`` through the link model: outages stop the frames, the on-board store
keeps the packets and plays them back on its own VC, conservation, CLCW flags,
channel errors counted, same seed same bytes."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lunar_hil.emulator.commands.run import build_emulator, register
from lunar_hil.emulator.downlink.linked import NO_BIT_LOCK_BIT, LinkedEmulator

OUTAGE_IDX = slice(4, 7)  # schedule steps of 30 s: 120 s .. 210 s


def _emulator(out: str, *extra: str) -> LinkedEmulator:
    ap = argparse.ArgumentParser()
    register(ap.add_subparsers())
    args = ap.parse_args(["run", "--profile", "lupex", "--band", "X", "--speed", "max",
                          "--duration", "300", "--out", out, *extra])
    if isinstance(args.profile, list):
        args.profile = args.profile[0]
    emu, _rs, _rig, _ = build_emulator(args)
    assert isinstance(emu, LinkedEmulator)
    return emu


def _run(emu: LinkedEmulator, *, outage: bool = True, store_bytes: int | None = None) -> dict[str, Any]:
    if outage:
        emu._deliver[OUTAGE_IDX] = False
    if store_bytes is not None:
        emu.store.capacity_bytes = store_bytes
    return asyncio.run(emu.run())


def _decode(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    params = path.with_suffix(".jsonl")
    r = subprocess.run([sys.executable, "-m", "lunar_hil.emulator.cli", "decode", "--profile", "lupex",
                        "--band", "X", str(path), "--json", "--params-out", str(params)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), [json.loads(x) for x in params.read_text().splitlines()]


@pytest.mark.parametrize(("idle", "store_bytes"), [(False, 20_000), (True, 10_000_000)])
def test_outage_store_playback_and_conservation(tmp_path: Path, idle: bool, store_bytes: int) -> None:
    f = tmp_path / "o.bin"
    emu = _emulator(f"file:{f}", *(["--idle"] if idle else []))
    s = _run(emu, store_bytes=store_bytes)
    link = s["link"]
    made = emu._sampled_packets
    assert link["outage_s"] > 0 and link["stored_packets"] > 0
    if store_bytes < 100_000:
        assert link["overflow_packets"] > 0
    else:
        assert link["overflow_packets"] == 0
    assert link["played_back_packets"] + link["store_packets"] == link["stored_packets"]
    got, rows = _decode(f)
    # Conservation: made = delivered + in the store + overflow (+ still in the mux).
    assert made == got["packets"] + link["store_packets"] + link["overflow_packets"] + s["backlog_packets"]
    assert got["packets"] == s["packets"]
    assert got["crc_errors"] == 0 and got["rs_uncorrectable"] == 0
    if idle:
        # Full link: every frame slot outside the outage carries a frame, none inside it.
        assert got["cadus"] == emu.end_frame - link["outage_frame_slots"]
    # Stored packets (made during the outage) arrive after it, oldest first per APID.
    t0 = min(r["time"] for r in rows)
    seen: dict[int, list[float]] = defaultdict(list)
    for r in rows:
        if 120.0 <= r["time"] - t0 < 180.0:
            seen[r["apid"]].append(r["time"])
    assert seen
    for times in seen.values():
        assert times == sorted(times)
    # No packet is lost twice or sent twice: (apid, seq, time) are unique.
    keys = {(r["apid"], r["seq"], r["time"]) for r in rows}
    assert len(keys) == len(rows)


def test_same_seed_same_bytes_whatever_the_block_size(tmp_path: Path) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    _run(_emulator(f"file:{a}"))
    emu = _emulator(f"file:{b}")
    emu.block_periods = 1  # a step per mux period instead of one for the whole run
    _run(emu)
    assert a.read_bytes() == b.read_bytes()


def test_clcw_no_bit_lock_and_counted_channel_errors(tmp_path: Path) -> None:
    clean, noisy = tmp_path / "c.bin", tmp_path / "n.bin"
    _run(_emulator(f"file:{clean}"), outage=False)
    emu = _emulator(f"file:{noisy}")
    emu._tl.ber[:] = 1e-4
    s = _run(emu, outage=False)
    c, n = np.frombuffer(clean.read_bytes(), np.uint8), np.frombuffer(noisy.read_bytes(), np.uint8)
    assert c.size == n.size
    flips = int(np.unpackbits(c ^ n).sum())
    # The errors injected are the errors counted; the rate is the budget's.
    assert flips == s["link"]["channel_bit_errors"] > 0
    assert 0.3e-4 < flips / (8 * c.size) < 3e-4
    # The OCF of the frames layer carries No Bit Lock in the first minute only.
    frames_file = tmp_path / "f.bin"
    emu = _emulator(f"file:{frames_file}?layer=frames")
    emu._tl.margin_db[0:2] = -1.0  # 0..60 s: still delivering, no bit lock on board
    _run(emu, outage=False)
    flen = emu.band.coding.frame_length
    frames = np.frombuffer(frames_file.read_bytes(), np.uint8).reshape(-1, flen)
    ocf = frames[:, -6:-2].astype(np.uint32)
    words = (ocf[:, 0] << 24) | (ocf[:, 1] << 16) | (ocf[:, 2] << 8) | ocf[:, 3]
    flagged = (words & NO_BIT_LOCK_BIT) != 0
    assert flagged.any() and not flagged.all()
    assert flagged[: int(flagged.sum())].all()  # the flagged frames come first


def test_ideal_link_turns_the_model_off(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "lunar_hil.emulator.cli", "run", "--profile", "apex-1.0",
                        "--band", "S", "--speed", "max", "--duration", "60", "--json", "--ideal-link",
                        "--out", f"file:{tmp_path / 's.bin'}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert "link" not in s and s["packets"] > 0
    # Without it, the far-side S band (direct to Earth only) never reaches the ground.
    r = subprocess.run([sys.executable, "-m", "lunar_hil.emulator.cli", "run", "--profile", "apex-1.0",
                        "--band", "S", "--speed", "max", "--duration", "60", "--json",
                        "--out", f"file:{tmp_path / 's2.bin'}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["frames"] == 0 and s["packets"] == 0 and s["link"]["stored_packets"] > 0


def test_live_view_shows_the_link_model(tmp_path: Path) -> None:
    from rich.console import Console

    from lunar_hil.emulator.liveview import LiveView

    emu = _emulator(f"file:{tmp_path / 'v.bin'}")
    state = emu.link_state(0.0)
    console = Console(width=200, record=True, file=open(tmp_path / "view.txt", "w"))  # noqa: SIM115
    console.print(LiveView(title="t", emulator=emu, receiver_sink=None, duration_s=300.0))
    text = console.export_text()
    # LUPEX X at its epoch: direct to Earth through a named station.
    assert state.path == "direct" and state.station
    assert f"path direct -> {state.station}" in text
    assert f"margin {state.margin_db:+.1f} dB" in text and f"Eb/N0 {state.ebn0_db:.1f} dB" in text
    assert f"light time {state.light_time_s:.3f} s" in text
    # An outage says so, with the time to the next window.
    import dataclasses

    view = LiveView(title="t", emulator=emu, receiver_sink=None, duration_s=300.0)
    gone = dataclasses.replace(state, path=None, station=None, next_change_s=1800.0)
    console = Console(width=200, record=True, file=open(tmp_path / "o.txt", "w"))  # noqa: SIM115
    console.print(view._link_panel(gone))
    text = console.export_text()
    assert "OUTAGE" in text and "next change in 30.0 min" in text and "margin -" in text


def test_uplink_takes_the_light_time_and_is_lost_in_an_outage(tmp_path: Path) -> None:
    ap = argparse.ArgumentParser()
    register(ap.add_subparsers())
    args = ap.parse_args(["run", "--profile", "lupex", "--band", "X", "--speed", "max", "--duration",
                          "300", "--out", f"file:{tmp_path / 'u.bin'}", "--uplink",
                          f"file:{tmp_path / 'tc.bin'}"])
    args.profile = args.profile[0]
    emu, _rs, rig, _ = build_emulator(args)
    assert isinstance(emu, LinkedEmulator) and rig is not None and rig.inbox is not None
    inbox = rig.inbox
    state = emu.link_state(100.0)
    assert state.delivering and 1.16 < state.light_time_s < 1.41
    rig._now = 100.0
    inbox.arrived(b"\x00" * 10)
    assert inbox._waiting[0][0] == 100.0 + state.light_time_s  # due one light time later
    # No path: an outage (forced here, in the mask that also stops the frames)
    # loses what is sent, counted.
    emu._deliver[6] = False  # 180 .. 210 s
    assert not emu.delivering(190.0)
    rig._now = 190.0
    inbox.arrived(b"\x00" * 7)
    assert inbox.counters["no_path_bytes"] == 7 and len(inbox._waiting) == 1


def test_housekeeping_link_flag_follows_the_model(tmp_path: Path) -> None:
    """COM_LINK_UP is what the frames do: 0 in the packets made during an outage
    (they arrive later, from the store), 1 in those sent live."""
    first = _emulator(f"file:{tmp_path / 'warm.bin'}")  # builds and caches the schedule
    timeline = first.schedule.timeline("X")
    was = timeline.path_index[OUTAGE_IDX].copy()
    timeline.path_index[OUTAGE_IDX] = -1
    try:
        f = tmp_path / "hk.bin"
        emu = _emulator(f"file:{f}")
        assert emu.schedule is first.schedule and not emu._deliver[OUTAGE_IDX].any()
        s = asyncio.run(emu.run())
    finally:
        timeline.path_index[OUTAGE_IDX] = was  # the schedule is cached per process
    assert s["link"]["played_back_packets"] > 0
    _got, rows = _decode(f)
    t0 = min(r["time"] for r in rows)
    flags = [(r["time"] - t0, r["params"]["COM_LINK_UP"]) for r in rows if "COM_LINK_UP" in r["params"]]
    inside = [up for t, up in flags if 120.0 <= t < 210.0]
    # The sim's surface step is 60 s (rows at 0, 60, 120, ...): the row at 180 s
    # is in the outage, so packets up to the row at 240 s still carry it.
    outside = [up for t, up in flags if t < 120.0 or t >= 240.0]
    assert inside and outside
    assert set(inside) == {0} and set(outside) == {1}, [(t, up) for t, up in flags if not up][:20]


def test_recorder_keeps_the_newest_packets_and_gives_them_by_time() -> None:
    from lunar_hil.emulator.downlink.linked import PacketRecorder

    rec = PacketRecorder(capacity_bytes=100)
    data = np.arange(60, dtype=np.uint8)
    rec.put(data, np.array([0, 20, 40]), np.array([1.0, 2.0, 3.0]))  # three 20-byte packets
    rec.put(data[:40], np.array([0, 20]), np.array([4.0, 5.0]))      # 100 bytes: all kept
    assert rec.bytes == 100 and rec.overwritten_packets == 0
    got = rec.since(2.5)
    assert got is not None
    d, s = got
    assert s.tolist() == [0, 20, 40] and d.tolist() == [*range(40, 60), *range(0, 40)]
    rec.put(data[:20], np.array([0]), np.array([6.0]))  # the oldest chunk (3 packets) goes
    assert rec.bytes == 60 and rec.overwritten_packets == 3
    assert rec.since(0.0)[1].tolist() == [0, 20, 40]  # type: ignore[index]
    assert rec.since(7.0) is None


def test_recorder_dump_replays_on_the_playback_vc(tmp_path: Path) -> None:
    """RECORDER_DUMP from_met_s=10, sent so that it executes at ~100 s: the packets
    made from 10 s until then come a second time (from the store, after the live ones)."""
    from lunar_hil.emulator.ccsds.cltu import encode_cltu
    from lunar_hil.emulator.ccsds.tc import TcFrame
    from lunar_hil.emulator.uplink import CommandTable
    from lunar_hil.profiles.loader import load_profile

    out = tmp_path / "dump.bin"
    ap = argparse.ArgumentParser()
    register(ap.add_subparsers())
    args = ap.parse_args(["run", "--profile", "lupex", "--band", "X", "--speed", "max", "--duration",
                          "200", "--out", f"file:{out}", "--uplink", f"file:{tmp_path / 'none.bin'}"])
    args.profile = args.profile[0]
    (tmp_path / "none.bin").write_bytes(b"")
    emu, _rs, rig, _ = build_emulator(args)
    assert isinstance(emu, LinkedEmulator) and rig is not None and rig.inbox is not None
    packet = CommandTable.from_profile(load_profile("lupex")).encode("RECORDER_DUMP",
                                                                     {"from_met_s": "10"})
    rig._now = 100.0
    rig.inbox.arrived(encode_cltu(TcFrame.bd(rig.scid, rig.tc_vcid, 0, packet).pack()))
    # The uplink is delivered between engine steps: one per mux period here
    # (at max speed a step is otherwise up to an hour of sim time).
    emu.block_periods = 1
    s = asyncio.run(rig.run(emu))
    (outcome,) = rig.inbox.outcomes
    executed = outcome.t_s
    assert 101.0 < executed < 101.0 + emu.period_frames / emu.frames_per_second + 1.0
    dumped = s["link"]["recorder_dumped_packets"]
    assert dumped > 0 and s["link"]["overflow_packets"] == 0
    _got, rows = _decode(out)
    t0 = min(r["time"] for r in rows)
    seen: dict[tuple[int, int, float], int] = defaultdict(int)
    for r in rows:
        seen[(r["apid"], r["seq"], r["time"])] += 1
    twice = [k for k, n in seen.items() if n == 2]
    assert len(twice) == dumped and max(seen.values()) == 2
    # Exactly the packets made between 10 s and the step boundary at which the
    # command took effect (the next mux period's start after it was due).
    period_s = emu.period_frames / emu.frames_per_second
    boundary = math.ceil(executed / period_s) * period_s
    times = sorted(t - t0 for _a, _s, t in twice)
    assert times[0] >= 10.0 and boundary - 2.0 < times[-1] < boundary
    once = [r["time"] - t0 for r in rows if seen[(r["apid"], r["seq"], r["time"])] == 1]
    assert not [t for t in once if 10.0 <= t < boundary - 2.0]

"""Band modes: S, X and Ka switched mid-run by a scenario step, a transmitter
fault and a SET_BAND telecommand. Rate, frame length and coding change together.

The frame counts are computed here from the profile YAML's numbers (APEX 1.0:
S 32 kbit/s, TM 223-octet frames, RS interleave 1, rate-1/2 convolutional; X
2 Mbit/s, TM 1115 octets, RS interleave 5; Ka 20 Mbit/s, AOS 1115 octets, RS
interleave 5; every CADU has a 4-octet ASM and 32 parity octets per RS
codeword), not from ``band_setup()``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.binding import band_setup, pick_band
from lunar_hil.emulator.ccsds import VirtualChannelConfig, VirtualChannelMultiplexer
from lunar_hil.emulator.ccsds.packets import build_space_packets
from lunar_hil.emulator.ccsds.receiver import Receiver
from lunar_hil.emulator.commands.run import build_emulator, register
from lunar_hil.profiles.loader import load_profile
from tests.conftest import MosquittoBroker
from tests.drivers.aio import run_bounded
from tests.drivers.test_mqtt import Subscriber

CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]

# From profiles/apex-1.0.yaml.
CADU = {"S": 4 + 223 + 32, "X": 4 + 1115 + 32 * 5, "Ka": 4 + 1115 + 32 * 5}
RATE = {"S": 32_000, "X": 2_000_000, "Ka": 20_000_000}
CODED = {"S": 2, "X": 1, "Ka": 1}  # channel bytes per CADU byte (r=1/2 on S)


def fps(band: str) -> float:
    return RATE[band] / (8 * CADU[band])


def scenario(tmp_path: Path, steps: list[tuple[float, str]], duration: float = 120.0,
             faults: list[str] | None = None) -> Path:
    f = tmp_path / "bands.yaml"
    lines = ["name: band-steps", "phase: surface", f"duration_s: {duration}", "bands:"]
    lines += [f"  - {{at_s: {t}, band: {b}}}" for t, b in steps]
    if faults:
        lines += ["faults:", *[f"  - {x}" for x in faults]]
    f.write_text("\n".join(lines) + "\n")
    return f


def emulator(*argv: str) -> Any:
    ap = argparse.ArgumentParser()
    register(ap.add_subparsers())
    args = ap.parse_args(["run", *argv])
    args.profile = args.profile[0]
    emu, _rs, _rig, _ = build_emulator(args)
    return emu


def receiver(band: str) -> Receiver:
    profile = load_profile("apex-1.0")
    setup = band_setup(pick_band(profile, band))
    return Receiver(setup.coding, scid=setup.scid, idle_vcid=setup.idle_vcid, keep_frames=False)


def split_by_band(data: bytes, events: list[dict[str, Any]], start: str) -> list[tuple[str, bytes]]:
    """Cut a channel recording at the switches: each band's CADUs start where the
    previous band's last slot ended (the switch's ``t_s``)."""
    parts: list[tuple[str, bytes]] = []
    band, t0, at = start, 0.0, 0
    for ev in [e for e in events if e["event"] == "switch"]:
        if ev["t_s"] == t0 and not parts and at == 0:
            band = ev["to"]
            continue
        frames = round((ev["t_s"] - t0) * fps(band))
        size = frames * CADU[band] * CODED[band]
        parts.append((band, data[at : at + size]))
        at += size
        band, t0 = ev["to"], ev["t_s"]
    parts.append((band, data[at:]))
    return parts


def test_scenario_steps_switch_rate_frame_length_and_coding(tmp_path: Path) -> None:
    out = tmp_path / "ch.bin"
    sc = scenario(tmp_path, [(0, "S"), (40, "X"), (80, "Ka")])
    emu = emulator("--profile", "apex-1.0", "--scenario", str(sc), "--speed", "max", "--idle",
                   "--ideal-link", "--out", f"file:{out}")
    summary = asyncio.run(emu.run())
    events = summary["band_events"]
    assert [(e["from"], e["to"]) for e in events] == [("X", "S"), ("S", "X"), ("X", "Ka")]
    assert summary["band"] == "Ka"
    # The S->X switch: the first S frame slot at or after 40 s, plus at most
    # one frame per VC for the tails of packets already started.
    boundary_s = math.ceil(40 * fps("S"))
    frames_s = round(events[1]["t_s"] * fps("S"))
    assert boundary_s <= frames_s <= boundary_s + 2
    t_x = events[1]["t_s"]
    boundary_x = math.ceil((80 - t_x) * fps("X"))
    frames_x = round((events[2]["t_s"] - t_x) * fps("X"))
    assert boundary_x <= frames_x <= boundary_x + 2
    frames_ka = math.floor((120 - events[2]["t_s"]) * fps("Ka") + 1e-9)
    data = out.read_bytes()
    assert len(data) == (frames_s * CADU["S"] * 2 + frames_x * CADU["X"] + frames_ka * CADU["Ka"])
    packets = 0
    for band, part in split_by_band(data, events, "X"):
        rx = receiver(band)
        got = rx.feed(part)
        got_tail = rx.flush()
        c = rx.counters
        want = {"S": frames_s, "X": frames_x, "Ka": frames_ka}[band]
        assert c.cadus == c.frames_ok == want, band
        assert c.rs_uncorrectable == c.crc_errors == c.vc_count_gaps == 0, band
        packets += len(got.packets) + len(got_tail.packets)
    # No packet lost or duplicated across the switches.
    assert packets == summary["packets"] == emu._sampled_packets


def test_band_switches_give_the_same_bytes_at_any_speed(tmp_path: Path) -> None:
    sc = scenario(tmp_path, [(10, "S"), (25, "Ka"), (40, "X")], duration=50)
    outs = []
    for speed in (["--speed", "50"], ["--speed", "max", "--idle"]):
        f = tmp_path / f"o{len(outs)}.bin"
        emu = emulator("--profile", "apex-1.0", "--scenario", str(sc), *speed,
                       "--out", f"file:{f}")
        asyncio.run(emu.run())
        outs.append(f.read_bytes())
    assert outs[0] == outs[1]


def test_handover_moves_a_backlog_to_the_new_band_without_loss(tmp_path: Path) -> None:
    """S slowed to 600 bit/s cannot carry APEX's housekeeping: a backlog builds
    up; at the switch to X the packets not yet started move to X's VCs, and
    every packet arrives once, in order per APID."""
    import dataclasses

    out = tmp_path / "ch.bin"
    sc = scenario(tmp_path, [(0, "S"), (60, "X")], duration=90)
    emu = emulator("--profile", "apex-1.0", "--scenario", str(sc), "--speed", "max", "--idle",
                   "--ideal-link", "--out", f"file:{out}")
    emu.bands["S"] = dataclasses.replace(emu.bands["S"], bit_rate_bps=600.0)
    RATE_SLOW = 600 / (8 * CADU["S"])
    summary = asyncio.run(emu.run())
    switch = summary["band_events"][1]
    assert switch["to"] == "X" and switch["handed_over_packets"] > 10
    data = out.read_bytes()
    frames_s = round(switch["t_s"] * RATE_SLOW)
    cut = frames_s * CADU["S"] * 2
    seqs: dict[int, list[int]] = {}
    for band, part in (("S", data[:cut]), ("X", data[cut:])):
        rx = receiver(band)
        pkts = rx.feed(part).packets + rx.flush().packets
        assert rx.counters.rs_uncorrectable == rx.counters.dropped_partial_packets == 0
        for p in pkts:
            apid = ((p[0] & 7) << 8) | p[1]
            seqs.setdefault(apid, []).append(((p[2] & 0x3F) << 8) | p[3])
    total = sum(len(s) for s in seqs.values())
    assert total == emu._sampled_packets == summary["packets"]
    for apid, s in seqs.items():
        assert s == list(range(s[0], s[0] + len(s))), apid  # in order, no gap, no repeat


@pytest.mark.parametrize("idle", [[], ["--idle"]])
def test_transmitter_fault_falls_back_to_s_and_refuses_the_failed_band(
        tmp_path: Path, idle: list[str]) -> None:
    """With or without idle frames (60 s mux periods at max without them), the
    events take effect at their own times, not at a period boundary."""
    sc = scenario(tmp_path, [(50, "Ka"), (90, "Ka")], duration=100,
                  faults=["transmitter_fault@20:band=Ka,duration=50"])
    emu = emulator("--profile", "apex-1.0", "--band", "Ka", "--scenario", str(sc),
                   "--speed", "max", *idle, "--ideal-link",
                   "--out", f"file:{tmp_path / 'x.bin'}")
    summary = asyncio.run(emu.run())
    ev = summary["band_events"]
    assert ev[0]["event"] == "transmitter_fault" and ev[0]["band"] == "Ka"
    assert ev[1]["event"] == "switch" and (ev[1]["from"], ev[1]["to"]) == ("Ka", "S")
    assert 20 <= ev[1]["t_s"] < 20.01  # the next Ka slot, plus a tail frame or two
    assert "Ka failed" in ev[1]["reason"]
    # 50 s: still failed (until 70 s): refused. 90 s: repaired: back on Ka.
    assert ev[2]["event"] == "refused" and ev[2]["band"] == "Ka"
    assert ev[3]["event"] == "switch" and ev[3]["to"] == "Ka"
    assert summary["band"] == "Ka"
    kinds = [e.kind for e in emu.status.events]
    assert "fault_injected" in {str(getattr(k, "value", k)) for k in kinds}


def test_bad_band_steps_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\nphase: surface\nduration_s: 10\nbands:\n  - {at_s: 5, band: L}\n")
    r = subprocess.run([*CLI, "run", "--profile", "apex-1.0", "--scenario", str(bad),
                        "--speed", "max"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "bands[0].band" in r.stderr and len(r.stderr.splitlines()) == 1
    sc = scenario(tmp_path, [(5, "Ka")], duration=10)
    r = subprocess.run([*CLI, "run", "--profile", "lupex", "--scenario", str(sc),
                        "--speed", "max"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "has no Ka band" in r.stderr
    r = subprocess.run([*CLI, "run", "--profile", "apex-1.0", "--speed", "max", "--duration", "5",
                        "--fault", "transmitter_fault@1:band=L"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "band must be one of S, X, Ka" in r.stderr


def test_udp_datagrams_follow_the_band(tmp_path: Path) -> None:
    """A real UDP receiver: one CADU per datagram, S-band coded CADUs (518
    octets) until the switch, X-band CADUs (1279) after it."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.5)
    port = rx.getsockname()[1]
    sc = scenario(tmp_path, [(0, "S"), (3, "X")], duration=6)
    emu = emulator("--profile", "apex-1.0", "--scenario", str(sc), "--speed", "2",
                   "--ideal-link", "--out", f"udp://127.0.0.1:{port}")
    summary = asyncio.run(emu.run())
    sizes = []
    try:
        while True:
            sizes.append(len(rx.recv(65536)))
    except TimeoutError:
        pass
    finally:
        rx.close()
    switch = summary["band_events"][1]
    n_s = round(switch["t_s"] * fps("S"))
    assert sizes[:n_s] == [CADU["S"] * 2] * n_s
    assert set(sizes[n_s:]) == {CADU["X"]}
    assert len(sizes) == n_s + math.floor((6 - switch["t_s"]) * fps("X") + 1e-9)
    assert emu.outputs[0].sink.counters["band_switches"] == 2  # X->S at 0 s, S->X


def test_set_band_telecommand_switches_the_downlink(tmp_path: Path) -> None:
    """send-tc over a real UDP uplink: SET_BAND band=0 (S) moves the downlink
    from X to S; the recording decodes as X frames, then S frames."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        uplink = s.getsockname()[1]
    rec = tmp_path / "rec.bin"
    run = subprocess.Popen(
        [*CLI, "run", "--profile", "apex-1.0", "--band", "X", "--speed", "10", "--duration", "60",
         "--ideal-link", "--out", f"file:{rec}", "--uplink", f"udp://127.0.0.1:{uplink}", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import time

        time.sleep(1.5)
        tc = subprocess.run([*CLI, "send-tc", "--profile", "apex-1.0", "--to",
                             f"udp://127.0.0.1:{uplink}", "--bypass", "--json", "SET_BAND", "band=0"],
                            capture_output=True, text=True, timeout=60)
        assert tc.returncode == 0, tc.stderr
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    ev = [e for e in summary["band_events"] if e["event"] == "switch"]
    assert len(ev) == 1 and (ev[0]["from"], ev[0]["to"], ev[0]["reason"]) == ("X", "S",
                                                                            "telecommand")
    assert summary["band"] == "S" and summary["uplink"]["last_command"] == "SET_BAND"
    parts = split_by_band(rec.read_bytes(), summary["band_events"], "X")
    for band, part in parts:
        r = receiver(band)
        r.feed(part)
        r.flush()
        assert r.counters.cadus == r.counters.frames_ok > 0, band
        assert r.counters.rs_uncorrectable == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=30),
       st.integers(min_value=0, max_value=12))
def test_take_unsent_leaves_only_the_started_packet(lengths: list[int], zones: int) -> None:
    """What was pulled, then the flushed tail, then the packets handed over give
    back every packet once, in order."""
    apid = 0x42
    packets = [build_space_packets(apid, np.array([i % 16384]), np.full((1, n + 1), i % 251,
                                                                         dtype=np.uint8))
               .reshape(-1).tobytes() for i, n in enumerate(lengths)]
    mux = VirtualChannelMultiplexer(64, [VirtualChannelConfig(vcid=0, priority=0)], idle_vcid=7)
    mux.push(0, packets)
    first = mux.pull(zones, flush=False, idle=False)
    data, starts = mux.take_unsent(0)
    tail = mux.pull(1 << 20, flush=True, idle=False)
    assert mux.pending_bytes() == 0
    sent = first.zones.reshape(-1).tobytes() + tail.zones.reshape(-1).tobytes()
    handed = data.tobytes()
    whole = b"".join(packets)
    # The sent bytes are a prefix of the stream (then idle fill), the rest is handed over.
    assert sent.startswith(whole[: len(whole) - len(handed)])
    assert whole.endswith(handed)
    n_handed = starts.size
    assert n_handed == 0 or handed == b"".join(packets[-n_handed:])


def test_mqtt_frames_follow_the_band(tmp_path: Path, mosquitto_broker: MosquittoBroker) -> None:
    """A real mosquitto broker and an independent subscriber: one transfer frame
    per message, S-band frames (223 octets) until the switch, X-band (1115) after."""
    sc = scenario(tmp_path, [(0, "S"), (3, "X")], duration=6)
    prefix = f"bandtest{uuid.uuid4().hex[:8]}"
    url = mosquitto_broker.url(prefix, layer="frames", qos="1")
    emu = emulator("--profile", "apex-1.0", "--scenario", str(sc), "--speed", "3",
                   "--ideal-link", "--out", url)

    async def main() -> tuple[list[bytes], dict[str, Any]]:
        sub = Subscriber(mosquitto_broker, f"{prefix}/apex-1.0/tm/frames/#")
        sub.start()
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        summary = await emu.run()
        deadline = asyncio.get_running_loop().time() + 20
        while len(sub.messages) < summary["frames"]:
            assert asyncio.get_running_loop().time() < deadline, len(sub.messages)
            await asyncio.sleep(0.05)
        await sub.stop()
        return sub.messages, summary

    messages, summary = run_bounded(main(), 60)
    switch = summary["band_events"][1]
    n_s = round(switch["t_s"] * fps("S"))
    sizes = [len(m) for m in messages]
    assert sizes[:n_s] == [223] * n_s
    assert set(sizes[n_s:]) == {1115}
    assert len(sizes) == summary["frames"] == n_s + math.floor((6 - switch["t_s"]) * fps("X")
                                                               + 1e-9)


def test_outputs_per_band_decode_each_with_its_own_band(tmp_path: Path) -> None:
    """``?band=`` makes an output one ground receiver chain: it gets only that
    band's stream, so ``decode --band`` reads each file as it is."""
    sc = scenario(tmp_path, [(0, "S"), (30, "X"), (60, "S")], duration=90)
    s_file, x_file = tmp_path / "s.bin", tmp_path / "x.bin"
    r = subprocess.run([*CLI, "run", "--profile", "apex-1.0", "--scenario", str(sc), "--speed",
                        "max", "--idle", "--ideal-link", "--out", f"file:{s_file}?band=S",
                        "--out", f"file:{x_file}?band=x", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    sw = [e for e in summary["band_events"] if e["event"] == "switch"]
    frames_s = round(sw[1]["t_s"] * fps("S")) + math.floor((90 - sw[2]["t_s"]) * fps("S") + 1e-9)
    frames_x = round((sw[2]["t_s"] - sw[1]["t_s"]) * fps("X"))
    assert s_file.stat().st_size == frames_s * CADU["S"] * 2
    assert x_file.stat().st_size == frames_x * CADU["X"]
    packets = 0
    for band, f, frames in (("S", s_file, frames_s), ("X", x_file, frames_x)):
        d = subprocess.run([*CLI, "decode", "--profile", "apex-1.0", "--band", band, f"file:{f}",
                            "--json"], capture_output=True, text=True, timeout=120)
        assert d.returncode == 0, d.stderr
        got = json.loads(d.stdout.strip().splitlines()[-1])
        assert got["cadus"] == got["frames_ok"] == frames, band
        packets += got["packets"]
    # Two S segments in one file: the S receiver sees a gap, not lost packets.
    assert packets == summary["packets"]
    bad = subprocess.run([*CLI, "run", "--profile", "lupex", "--speed", "max", "--duration", "5",
                          "--out", f"file:{tmp_path / 'k.bin'}?band=Ka"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "band='Ka': no such band (has: S, X)" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

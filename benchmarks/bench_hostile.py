"""Ground receiver throughput on hostile input: an ASM flood, random noise and
zeros against a clean stream (medians of a few runs, one core).

Usage: python benchmarks/bench_hostile.py [--profile apex-1.0] [--band X] [--mib 1] [--json]

The issue 11 baseline (before this benchmark existed): ASM flood ~5 Mbit/s,
noise ~24 Mbit/s, clean ~1.2 Gbit/s on the reporter's machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lunar_hil.emulator.binding import channel_coding, pick_band
from lunar_hil.emulator.ccsds import Receiver
from lunar_hil.profiles.loader import load_profile


def clean_stream(profile: str, band: str, nbytes: int) -> bytes:
    """A real coded stream from ``run`` (idle-filled, so it is long enough)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clean.bin"
        subprocess.run([sys.executable, "-m", "lunar_hil.emulator.cli", "run", "--profile", profile,
                        "--band", band, "--speed", "max", "--idle", "--ideal-link",
                        "--duration", "60", "--out", f"file:{out}"],
                       check=True, capture_output=True)
        data = out.read_bytes()
    return (data * (nbytes // max(1, len(data)) + 1))[:nbytes]


def mbps(profile: str, band: str, data: bytes, repeats: int) -> float:
    coding = channel_coding(pick_band(load_profile(profile), band))
    b = pick_band(load_profile(profile), band)
    times = []
    for _ in range(repeats):
        receiver = Receiver(coding, scid=b.scid, idle_vcid=b.idle_vcid, keep_frames=False)
        t0 = time.perf_counter()
        receiver.feed(data)
        receiver.flush()
        times.append(time.perf_counter() - t0)
    return round(len(data) * 8 / statistics.median(times) / 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="apex-1.0")
    parser.add_argument("--band", default="X")
    parser.add_argument("--mib", type=float, default=1.0, help="bytes per input, MiB")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    n = int(args.mib * 1024 * 1024)
    inputs = {
        "asm_flood": (bytes.fromhex("1ACFFC1D") * (n // 4 + 1))[:n],
        "noise": os.urandom(n),
        "zeros": bytes(n),
        "clean": clean_stream(args.profile, args.band, n),
    }
    result = {name: mbps(args.profile, args.band, data, args.repeats) for name, data in inputs.items()}
    if args.json:
        print(json.dumps({"mbit_per_s": result, "profile": args.profile, "band": args.band}))
    else:
        for name, value in result.items():
            print(f"{name:10s} {value:>8} Mbit/s")


if __name__ == "__main__":
    main()

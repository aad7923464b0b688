"""Throughput of the VC multiplexer and the packet demultiplexer (no timed tests).

Workload (from the mux brief): 1 KB space packets on two VCs, 1109-byte packet
zones (a 1115-byte TM frame minus its 6-byte header), clean link. Reported
numbers are medians over repeats in MB/s of packet-zone bytes (1 MB = 1e6 B);
``*_mbit_s`` are the same in Mbit/s for comparison with link rates.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from ..ccsds import PacketDemultiplexer, VirtualChannelConfig, VirtualChannelMultiplexer

ZONE_LENGTH = 1109
PACKET_LENGTH = 1024


def _packets(count: int, apid: int, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """``count`` random-payload TM packets of PACKET_LENGTH bytes (133.0 §4.1.3 header)."""
    packets = rng.integers(0, 256, size=(count, PACKET_LENGTH), dtype=np.uint8)
    seq = np.arange(count) & 0x3FFF
    packets[:, 0] = apid >> 8  # version 000, type TM, no secondary header
    packets[:, 1] = apid & 0xFF
    packets[:, 2] = 0xC0 | (seq >> 8)  # unsegmented
    packets[:, 3] = seq & 0xFF
    packets[:, 4] = (PACKET_LENGTH - 7) >> 8
    packets[:, 5] = (PACKET_LENGTH - 7) & 0xFF
    return packets


def _mux_once(batches: list[npt.NDArray[np.uint8]], frames_per_pull: int) -> tuple[float, Any]:
    mux = VirtualChannelMultiplexer(
        ZONE_LENGTH, [VirtualChannelConfig(0, 1), VirtualChannelConfig(1, 0)], idle_vcid=63
    )
    out = []
    t0 = time.perf_counter()
    for i, packets in enumerate(batches):
        mux.push(i % 2, packets)
        out.append(mux.pull(frames_per_pull, idle=False))
    out.append(mux.pull(mux.full_frames_available() + 2, flush=True, idle=False))
    return time.perf_counter() - t0, out


def measure(quick: bool = False) -> dict[str, float]:
    """Medians of mux (push + pull) and demux (feed) throughput, MB/s of zone bytes."""
    rng = np.random.default_rng(1)
    packets_per_push = 500 if quick else 2000
    pushes = 4 if quick else 10
    repeats = 3 if quick else 7
    batches = [_packets(packets_per_push, 0x100 + i % 2, rng) for i in range(pushes)]
    frames_per_pull = packets_per_push * PACKET_LENGTH // ZONE_LENGTH
    mux_times = []
    result: Any = None
    for _ in range(repeats):
        elapsed, result = _mux_once(batches, frames_per_pull)
        mux_times.append(elapsed)
    vcids = np.concatenate([b.vcids for b in result])
    fhps = np.concatenate([b.first_header_pointers for b in result])
    zones = np.concatenate([b.zones for b in result])
    counts = np.zeros(vcids.size, dtype=np.int64)
    for v in (0, 1):
        rows = np.flatnonzero(vcids == v)
        counts[rows] = np.arange(rows.size) % 256
    # The receiver gets frames in chunks like a decoder's batches.
    chunk = 256
    demux_times = []
    for _ in range(repeats):
        demux = PacketDemultiplexer(idle_vcid=63)
        t0 = time.perf_counter()
        for i in range(0, vcids.size, chunk):
            demux.feed(
                vcids[i : i + chunk],
                counts[i : i + chunk],
                fhps[i : i + chunk],
                zones[i : i + chunk],
            )
        demux_times.append(time.perf_counter() - t0)
        if demux.counters["packets"] != packets_per_push * pushes:
            raise AssertionError(f"demux lost packets: {demux.counters}")
    zone_bytes = zones.size
    mux_mb_s = zone_bytes / statistics.median(mux_times) / 1e6
    demux_mb_s = zone_bytes / statistics.median(demux_times) / 1e6
    return {
        "mux_mb_s": round(mux_mb_s, 1),
        "demux_mb_s": round(demux_mb_s, 1),
        "mux_mbit_s": round(mux_mb_s * 8, 1),
        "demux_mbit_s": round(demux_mb_s * 8, 1),
        "zone_bytes": float(zone_bytes),
        "repeats": float(repeats),
    }

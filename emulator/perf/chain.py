"""End-to-end codec figures: the full coding chain and the receiver.

* ``measure_encode_chain``: frame build (headers, FHP, OCF) + CRC-16 FECF +
  RS(255,223) I=5 + randomizer + ASM, coded Mbit/s out, one core.
* ``measure_receiver``: frame sync + derandomizer + RS decode + CRC + VC demux
  + packet reassembly, coded Mbit/s in, on a clean stream and at a symbol
  (byte) error rate.
* ``measure_stream_memory``: encode N bytes of channel stream in bounded
  chunks and report the peak RSS of the process.

Medians of several repeats; the machine is shared and noisy.
"""

from __future__ import annotations

import resource
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from ..ccsds import (
    ChannelCoding,
    ChannelEncoder,
    Receiver,
    TmFramer,
    VirtualChannelConfig,
    VirtualChannelMultiplexer,
    build_space_packets,
    encode_cadus,
)
from . import median_seconds

#: The fastest RS band shape: TM frames of 1115 bytes, RS I=5 (CCSDS 131.0).
CHAIN_CODING = ChannelCoding(frame_type="TM", frame_length=1115, fecf=True, ocf=True,
                             rs_interleave=5, randomizer=True)


def make_zones(n_frames: int, coding: ChannelCoding = CHAIN_CODING, packet_data: int = 1018,
               seed: int = 1) -> tuple[Any, TmFramer]:
    """A mux batch full of 1 KB packets (APIDs 100..103 on VC 0..1)."""
    rng = np.random.default_rng(seed)
    framer = TmFramer(42, coding.frame_length, ocf=coding.ocf, fecf=coding.fecf)
    zone = framer.data_field_length
    mux = VirtualChannelMultiplexer(zone, [VirtualChannelConfig(0), VirtualChannelConfig(1)],
                                    idle_vcid=7)
    n_packets = n_frames * zone // (packet_data + 6) + 2
    for vc in (0, 1):
        data = rng.integers(0, 256, (n_packets // 2, packet_data), dtype=np.uint8)
        pkts = build_space_packets(100 + vc, np.arange(n_packets // 2) % 16384, data)
        mux.push(vc, pkts)
    batch = mux.pull(n_frames, flush=True, idle=True)
    return batch, framer


def measure_encode_chain(quick: bool = False) -> dict[str, float]:
    """Frames (from zones) to CADUs: coded Mbit/s out."""
    n = 2048 if quick else 8192
    batch, framer = make_zones(n)
    ocf = np.zeros(n, dtype=np.uint32)

    def chain() -> npt.NDArray[np.uint8]:
        frames = framer.frame(batch.vcids, batch.first_header_pointers, batch.zones, ocf)
        return encode_cadus(frames, CHAIN_CODING)

    t = median_seconds(chain, 3 if quick else 7)
    coded_bits = n * CHAIN_CODING.cadu_length * 8
    return {"encode_coded_mbps": coded_bits / t / 1e6, "encode_frames_per_s": n / t}


def make_stream(n_frames: int, ser: float = 0.0, seed: int = 2) -> tuple[bytes, int]:
    """A coded CADU stream of ``n_frames`` 1 KB-packet frames, optionally with symbol errors."""
    batch, framer = make_zones(n_frames, seed=seed)
    frames = framer.frame(batch.vcids, batch.first_header_pointers, batch.zones,
                          np.zeros(n_frames, dtype=np.uint32))
    cadus = encode_cadus(frames, CHAIN_CODING).reshape(-1).copy()
    if ser > 0:
        rng = np.random.default_rng(seed + 7)
        hit = np.flatnonzero(rng.random(cadus.size) < ser)
        cadus[hit] ^= rng.integers(1, 256, hit.size, dtype=np.uint8)
    return cadus.tobytes(), batch.packets_started


def measure_receiver(quick: bool = False, ser: float = 0.0) -> dict[str, float]:
    """The receiver over a stream fed in 1 MiB chunks: coded Mbit/s in."""
    n = 1024 if quick else 4096
    stream, _ = make_stream(n, ser)
    chunk = 1 << 20
    result: dict[str, float] = {}

    def decode() -> None:
        rx = Receiver(CHAIN_CODING, keep_frames=False)
        for i in range(0, len(stream), chunk):
            rx.feed(stream[i : i + chunk])
        rx.flush()
        result["frames_ok"] = rx.counters.frames_ok
        result["packets"] = rx.counters.packets
        result["rs_corrected_symbols"] = rx.counters.rs_corrected_symbols
        result["rs_uncorrectable"] = rx.counters.rs_uncorrectable

    t = median_seconds(decode, 3 if quick else 5)
    return {"decode_coded_mbps": len(stream) * 8 / t / 1e6, **result}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_stream_memory(total_bytes: int = 1 << 30) -> dict[str, float]:
    """Encode ``total_bytes`` of channel stream in 1024-frame chunks; peak RSS.

    Run it in a fresh process (``benchmarks/bench_memory.py``) so the peak is
    the encoder's, not an earlier benchmark's.
    """
    batch, framer = make_zones(1024)
    enc = ChannelEncoder(CHAIN_CODING)
    ocf = np.zeros(1024, dtype=np.uint32)
    out = 0
    t0 = time.perf_counter()
    while out < total_bytes:
        frames = framer.frame(batch.vcids, batch.first_header_pointers, batch.zones, ocf)
        out += len(enc.encode(frames))
    dt = time.perf_counter() - t0
    return {"stream_bytes": float(out), "stream_seconds": dt,
            "stream_coded_mbps": out * 8 / dt / 1e6, "peak_rss_mb": peak_rss_mb()}

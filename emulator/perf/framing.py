"""Throughput of the framing core: CRC-16, randomizer, TM frame encode/decode.

``measure(quick)`` returns medians in MB/s (10^6 bytes of input per second,
one core) over repeated runs on batches of 1115-byte frames, the RS I=5 TM
frame length.  ``binascii.crc_hqx`` (C, one frame at a time) is measured on the
same data as a reference point.  The machine is shared and noisy: quote medians.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable

import numpy as np

from ..ccsds import build_space_packets, crc16_batch, decode_tm_frames, encode_tm_frames, randomize
from . import median_seconds

FRAME_LENGTH = 1115  # TM frame for RS(255,223) interleave 5 (131.0-B §4)


def measure(quick: bool = False) -> dict[str, float]:
    """Median MB/s of crc16_batch, randomize, encode/decode_tm_frames, build_space_packets."""
    rows = 1000 if quick else 10_000  # 1.1 MB / 11 MB of frames
    repeats = 3 if quick else 7
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (rows, FRAME_LENGTH), dtype=np.uint8)
    codeblocks = rng.integers(0, 256, (rows, 5 * 255), dtype=np.uint8)
    field_length = FRAME_LENGTH - 6 - 4 - 2
    fields = frames[:, :field_length]
    vcids = rng.integers(0, 8, rows)
    counts = np.arange(rows) % 256
    ocf = rng.integers(0, 2**32, rows, dtype=np.uint64).astype(np.uint32)
    encoded = encode_tm_frames(42, vcids, counts, counts, 0, fields, ocf=ocf)
    packet_data = rng.integers(0, 256, (rows, 1018), dtype=np.uint8)
    crc_rows = frames[: max(1, rows // 10)]

    def mb_per_s(nbytes: int, fn: Callable[[], object]) -> float:
        return nbytes / median_seconds(fn, repeats) / 1e6

    return {
        "crc16_batch_mb_s": mb_per_s(frames.nbytes, lambda: crc16_batch(frames)),
        "crc16_binascii_reference_mb_s": mb_per_s(
            crc_rows.nbytes,
            lambda: [binascii.crc_hqx(row.tobytes(), 0xFFFF) for row in crc_rows],
        ),
        "randomize_mb_s": mb_per_s(codeblocks.nbytes, lambda: randomize(codeblocks)),
        "encode_tm_frames_mb_s": mb_per_s(
            encoded.nbytes,
            lambda: encode_tm_frames(42, vcids, counts, counts, 0, fields, ocf=ocf),
        ),
        "decode_tm_frames_mb_s": mb_per_s(encoded.nbytes, lambda: decode_tm_frames(encoded)),
        "build_space_packets_mb_s": mb_per_s(
            packet_data.nbytes + 6 * rows,
            lambda: build_space_packets(100, counts, packet_data),
        ),
    }

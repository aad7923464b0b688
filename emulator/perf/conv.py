"""Throughput of the convolutional encoder and Viterbi decoder (medians, Mbit/s).

``measure(quick)`` returns a dict of medians over repeated runs; the numbers are
information (data) bits per second, one core.  libfec's viterbi27 is measured on
the same stream as a reference point when the library is installed.
``measure_receiver(quick)`` is the whole receiver (pair alignment trial, Viterbi,
frame sync, RS, FECF, demux) on a clean stream of the S band shape of APEX 1.0
and HAKUTO-R M1 (TM 223, RS I=1, r=1/2 K=7), coded Mbit/s in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ccsds import ChannelCoding, ChannelEncoder, Receiver, ViterbiDecoder, conv_encode
from . import median_seconds

#: APEX 1.0 / HAKUTO-R M1 S band: TM frames of 223 bytes, RS I=1, convolutional.
CONV_BAND = ChannelCoding(frame_type="TM", frame_length=223, fecf=True, ocf=True,
                          rs_interleave=1, randomizer=True, convolutional=True)


def measure_receiver(quick: bool = False, receiver_cls: Any = Receiver) -> dict[str, float]:
    """Median coded Mbit/s of ``receiver_cls`` over a clean conv-band stream (1 MiB feeds)."""
    from .chain import make_zones

    n = 256 if quick else 2048  # 0.26 / 2.1 MB of channel symbols
    batch, framer = make_zones(n, CONV_BAND, packet_data=200)
    frames = framer.frame(batch.vcids, batch.first_header_pointers, batch.zones,
                          np.zeros(n, dtype=np.uint32))
    stream = ChannelEncoder(CONV_BAND).encode(frames)
    chunk = 1 << 20
    frames_ok = 0

    def decode() -> None:
        nonlocal frames_ok
        rx = receiver_cls(CONV_BAND, keep_frames=False)
        for i in range(0, len(stream), chunk):
            rx.feed(stream[i : i + chunk])
        rx.flush()
        frames_ok = rx.counters.frames_ok

    t = median_seconds(decode, 3 if quick else 5)
    return {"receiver_conv_coded_mbps": len(stream) * 8 / t / 1e6, "frames_ok": frames_ok}


def measure(quick: bool = False) -> dict[str, float]:
    """Median Mbit/s of: encoder, hard and soft Viterbi, libfec viterbi27 (if present)."""
    nbytes = 32_000 if quick else 250_000  # 0.256 / 2 Mbit of data
    repeats = 3 if quick else 5
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, nbytes, dtype=np.uint8)
    coded = conv_encode(np.concatenate([data, np.zeros(1, np.uint8)]))
    bits = np.unpackbits(coded)
    # A realistic channel: 1% raw symbol errors (the decoder's work does not depend
    # on it, but it keeps the measurement honest).
    noisy = bits ^ (rng.random(bits.size) < 0.01).astype(np.uint8)
    hard = np.packbits(noisy)
    soft = np.where(noisy == 1, 200, 55).astype(np.uint8)
    mbit = nbytes * 8 / 1e6

    def decode_hard() -> None:
        dec = ViterbiDecoder()
        dec.decode(hard)
        dec.flush()

    def decode_soft() -> None:
        dec = ViterbiDecoder()
        dec.decode_soft(soft)
        dec.flush()

    result = {
        "conv_encode_mbps": mbit / median_seconds(lambda: conv_encode(data), repeats),
        "viterbi_hard_mbps": mbit / median_seconds(decode_hard, repeats),
        "viterbi_soft_mbps": mbit / median_seconds(decode_soft, repeats),
    }
    try:
        from ..reference.libfec_viterbi import libfec_viterbi27_decode, load_libfec

        load_libfec()
    except OSError:
        return result
    result["libfec_viterbi27_mbps"] = mbit / median_seconds(
        lambda: libfec_viterbi27_decode(soft, 8 * nbytes), repeats
    )
    return result

"""Throughput of the convolutional encoder and Viterbi decoder (medians, Mbit/s).

``measure(quick)`` returns a dict of medians over repeated runs; the numbers are
information (data) bits per second, one core.  libfec's viterbi27 is measured on
the same stream as a reference point when the library is installed.
"""

from __future__ import annotations

import numpy as np

from ..ccsds import ViterbiDecoder, conv_encode
from . import median_seconds


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

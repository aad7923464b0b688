"""Pseudo-randomizer (CCSDS 131.0-B §10).

The sequence comes from the LFSR h(x) = x^8 + x^7 + x^5 + x^3 + 1 preset to all
ones; it repeats every 255 octets.  It is XORed onto the codeblock after RS
encoding and never onto the ASM (§10.4), so the same operation derandomizes.
The 255-octet period is computed once; longer sequences tile it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import LocalProtocolError

__all__ = ["RANDOMIZER_PERIOD", "randomize", "randomizer_sequence"]

RANDOMIZER_PERIOD: Final = 255


@lru_cache(maxsize=1)
def _period() -> npt.NDArray[np.uint8]:
    """One period of the sequence, bit by bit from the Fibonacci LFSR (§10.2, figure 10-2)."""
    state = [1] * 8  # x0..x7, all ones at the start of each codeblock
    bits: list[int] = []
    for _ in range(8 * RANDOMIZER_PERIOD):
        bits.append(state[0])
        # Feedback taps of h(x): x^8 = x^7 + x^5 + x^3 + 1 (over the last 8 outputs).
        feedback = state[0] ^ state[3] ^ state[5] ^ state[7]
        state = [*state[1:], feedback]
    sequence = np.packbits(np.array(bits, dtype=np.uint8))
    sequence.setflags(write=False)
    return sequence


def randomizer_sequence(length: int) -> npt.NDArray[np.uint8]:
    """The first ``length`` octets of the pseudo-random sequence."""
    if length < 0:
        raise LocalProtocolError(f"randomizer length {length} is negative")
    return _sequence(length).copy()


@lru_cache(maxsize=16)
def _sequence(length: int) -> npt.NDArray[np.uint8]:
    # Cached read-only: a channel uses one or two codeblock lengths.
    repeats = -(-length // RANDOMIZER_PERIOD)
    sequence = np.tile(_period(), repeats)[:length]
    sequence.setflags(write=False)
    return sequence


def randomize(blocks: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """XOR ``(L,)`` or ``(N, L)`` codeblocks with the sequence; its own inverse."""
    array = np.asarray(blocks)
    if array.dtype != np.uint8:
        raise LocalProtocolError(f"randomize expects uint8 blocks, got {array.dtype}")
    if array.ndim not in (1, 2):
        raise LocalProtocolError(f"randomize expects (L,) or (N, L), got {array.shape}")
    out: npt.NDArray[np.uint8] = np.bitwise_xor(array, _sequence(array.shape[-1]))
    return out

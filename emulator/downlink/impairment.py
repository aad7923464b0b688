"""Channel impairments applied to the coded stream on its way to the sinks."""

from __future__ import annotations

import numpy as np


class LinkImpairment:
    """A binary symmetric channel: flips bits at ``ber``, deterministically."""

    def __init__(self, ber: float = 0.0, seed: int = 0) -> None:
        self.ber = float(ber)
        self._rng = np.random.default_rng(seed + 0x11A4)
        self.bits_flipped = 0

    def apply(self, data: bytes) -> bytes:
        if self.ber <= 0 or not data:
            return data
        nbits = len(data) * 8
        k = int(self._rng.binomial(nbits, self.ber))
        if k == 0:
            return data
        pos = self._rng.choice(nbits, size=k, replace=False)
        arr = np.frombuffer(data, dtype=np.uint8).copy()
        np.bitwise_xor.at(arr, pos // 8, (0x80 >> (pos % 8)).astype(np.uint8))
        self.bits_flipped += k
        return arr.tobytes()

"""Channel impairments applied to the coded stream on its way to the sinks."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

#: Fewest error gaps drawn from the generator at a time. The batch size is a
#: function of the BER only, so the error positions do not depend on how the
#: stream is cut into calls.
_MIN_GAP_BATCH: Final = 4096
_MAX_GAP_BATCH: Final = 1 << 20


class LinkImpairment:
    """A binary symmetric channel: flips bits at ``ber``, deterministically.

    The bit errors are a function of the position in the stream only: the gaps
    between them are geometric (a Bernoulli process with probability ``ber``),
    drawn in fixed-size batches. The same seed therefore damages the same bits
    whether the stream arrives in one call or in a thousand.
    """

    def __init__(self, ber: float = 0.0, seed: int = 0) -> None:
        self.ber = float(ber)
        self._rng = np.random.default_rng(seed + 0x11A4)
        self._batch = min(_MAX_GAP_BATCH, max(_MIN_GAP_BATCH, int(self.ber * (1 << 20))))
        self._bit_position = 0  # bits of the stream seen so far
        self._pending: npt.NDArray[np.int64] = np.empty(0, np.int64)  # absolute error positions
        self._next_base = -1  # position of the last drawn error
        self.bits_flipped = 0

    def _errors_before(self, end: int) -> npt.NDArray[np.int64]:
        """Take the error positions below ``end`` (drawing more gaps as needed)."""
        parts = [self._pending]
        while parts[-1].size == 0 or parts[-1][-1] < end:
            gaps = self._rng.geometric(self.ber, self._batch).astype(np.int64)
            drawn = self._next_base + np.cumsum(gaps)
            self._next_base = int(drawn[-1])
            parts.append(drawn)
        every = np.concatenate(parts)
        cut = int(np.searchsorted(every, end, side="left"))
        self._pending = every[cut:]
        return every[:cut]

    def apply(self, data: bytes) -> bytes:
        if self.ber <= 0 or not data:
            return data
        start = self._bit_position
        self._bit_position += len(data) * 8
        pos = self._errors_before(self._bit_position) - start
        if pos.size == 0:
            return data
        arr = np.frombuffer(data, dtype=np.uint8).copy()
        np.bitwise_xor.at(arr, pos // 8, (0x80 >> (pos % 8)).astype(np.uint8))
        self.bits_flipped += int(pos.size)
        return arr.tobytes()

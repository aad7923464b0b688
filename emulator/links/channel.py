"""The link channel: bit errors injected into the transmitted stream.

Errors are the sum of two processes, both deterministic from the seed and
independent of how the caller slices the stream into blocks:

- random errors at rate ``p``: each 2^20-bit chunk of the stream draws its
  error count and positions from its own generator ``(seed, chunk index)``;
- Gilbert-Elliott bursts: a two-state Markov chain over bits (Good/Bad) whose
  sojourns are drawn in stream order from one generator; in the Bad state
  each bit is wrong with probability ``bad_error_rate``. This is the classic
  model of fades and of the error bursts a Viterbi decoder emits.

It extends :class:`lunar_hil.emulator.downlink.impairment.LinkImpairment`
(a plain binary symmetric channel) with bursts and time-varying BER.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["CHUNK_BITS", "GilbertElliott", "LinkChannel"]

CHUNK_BITS = 1 << 20
_RANDOM_STREAM = 1
_BURST_STREAM = 2


@dataclass(frozen=True)
class GilbertElliott:
    """Burst parameters: mean sojourns (bits) in Good and Bad, error rate in Bad."""

    mean_good_bits: float
    mean_bad_bits: float
    bad_error_rate: float = 0.5

    def __post_init__(self) -> None:
        if self.mean_good_bits < 1 or self.mean_bad_bits < 1:
            raise ValueError("Gilbert-Elliott mean sojourns must be >= 1 bit")
        if not 0.0 <= self.bad_error_rate <= 1.0:
            raise ValueError("bad_error_rate must be in [0, 1]")

    @property
    def burst_ber(self) -> float:
        """Long-run error rate the bursts contribute."""
        return self.bad_error_rate * self.mean_bad_bits / (self.mean_good_bits + self.mean_bad_bits)

    @classmethod
    def for_ber(cls, ber: float, burst_share: float = 0.2, mean_burst_bits: float = 64.0,
                bad_error_rate: float = 0.5) -> GilbertElliott | None:
        """Bursts carrying ``burst_share`` of a total ``ber`` (None if ber is 0)."""
        target = ber * burst_share
        if target <= 0:
            return None
        bad_fraction = min(target / bad_error_rate, 0.5)
        good = mean_burst_bits * (1 - bad_fraction) / bad_fraction
        return cls(max(good, 1.0), mean_burst_bits, bad_error_rate)


class LinkChannel:
    """Applies errors to consecutive blocks of one stream (bytes in, bytes out)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self.position_bits = 0
        self.random_errors = 0
        self.burst_errors = 0
        self.bursts = 0
        self.burst_bits = 0
        self._burst_rng = np.random.default_rng([self.seed, _BURST_STREAM])
        self._in_bad = False
        self._sojourn_left = -1  # -1: draw the first Good sojourn on first use
        self._bad_mask: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)

    def apply(self, data: bytes, ber: float, bursts: GilbertElliott | None = None) -> bytes:
        """Corrupt ``data`` (the next bytes of the stream) at random rate ``ber``
        plus ``bursts``; advances the stream position either way."""
        n_bits = len(data) * 8
        start = self.position_bits
        self.position_bits += n_bits
        if n_bits == 0:
            return data
        positions = []
        if ber > 0:
            positions.append(self._random_positions(start, n_bits, min(ber, 0.5)))
        if bursts is not None or self._in_bad:
            positions.append(self._burst_positions(n_bits, bursts))
        if not positions:
            return data
        pos = np.unique(np.concatenate(positions))
        if pos.size == 0:
            return data
        arr = np.frombuffer(data, dtype=np.uint8).copy()
        # Each error once (np.unique above) even if both processes hit one bit.
        np.bitwise_xor.at(arr, pos >> 3, (0x80 >> (pos & 7)).astype(np.uint8))
        return arr.tobytes()

    def _random_positions(self, start: int, n_bits: int, ber: float) -> npt.NDArray[np.int64]:
        out = []
        first, last = start // CHUNK_BITS, (start + n_bits - 1) // CHUNK_BITS
        for chunk in range(first, last + 1):
            rng = np.random.default_rng([self.seed, _RANDOM_STREAM, chunk])
            k = int(rng.binomial(CHUNK_BITS, ber))
            if k == 0:
                continue
            pos = np.unique(rng.integers(0, CHUNK_BITS, size=k)) + chunk * CHUNK_BITS
            pos = pos[(pos >= start) & (pos < start + n_bits)] - start
            out.append(pos)
        found = np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
        self.random_errors += int(found.size)
        return found.astype(np.int64)

    def _next_sojourn(self, ge: GilbertElliott) -> None:
        """Leave the current state: Good -> Bad (a burst) or Bad/start -> Good."""
        rng = self._burst_rng
        if self._in_bad or self._sojourn_left < 0:
            self._in_bad = False
            self._sojourn_left = int(rng.geometric(1.0 / ge.mean_good_bits))
        else:
            self._in_bad = True
            length = int(rng.geometric(1.0 / ge.mean_bad_bits))
            self._sojourn_left = length
            self._bad_mask = rng.random(length) < ge.bad_error_rate
            self.bursts += 1
            self.burst_bits += length

    def _burst_positions(self, n_bits: int, ge: GilbertElliott | None) -> npt.NDArray[np.int64]:
        """Error positions of the burst process over the next ``n_bits``.

        Sojourns are drawn in stream order only when one starts, so the
        errors do not depend on how the stream is cut into calls. Without
        burst parameters a burst in progress runs out and none starts.
        """
        out: list[npt.NDArray[np.int64]] = []
        at = 0
        while at < n_bits:
            if self._sojourn_left <= 0:
                if ge is None:
                    self._in_bad, self._sojourn_left = False, -1
                    break
                self._next_sojourn(ge)
            take = min(self._sojourn_left, n_bits - at)
            if self._in_bad:
                out.append(np.flatnonzero(self._bad_mask[:take]).astype(np.int64) + at)
                self._bad_mask = self._bad_mask[take:]
            self._sojourn_left -= take
            at += take
        found = np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
        self.burst_errors += int(found.size)
        return found

"""Baseband BPSK of a CADU stream, as SDR ground stations and gr-satellites expect it.

Pure numpy, no I/O: :class:`IqModulator` takes the *pre-convolutional* CADU
stream (ASM + randomized RS codeblock, repeated) in chunks of any size and
returns complex64 samples, keeping its state (NRZ-M level, convolutional
shift register, pulse-shaping filter memory, noise generator) between calls.

The chain, in transmit order:

1. **NRZ-M** (CCSDS 131.0-B-5 §3.2 / 401.0-B 2.4.12: a 1 toggles the level) on
   the data bits. On a concatenated band this comes *before* the
   convolutional encoder: the receiver undoes it after the Viterbi decoder,
   which is where gr-satellites' ``CCSDS Concatenated`` deframer puts its
   differential decoder. It resolves the 180° ambiguity of BPSK carrier
   recovery.
2. **Convolutional code** r=1/2 K=7 (131.0 §3) on concatenated bands.
3. **BPSK**: a channel bit 1 is +1 and 0 is -1, as GNU Radio's
   ``binary_slicer_fb`` reads them (it outputs 1 for x >= 0).
4. **Root-raised-cosine** pulses (roll-off α, 0.35 by default), unit energy per
   symbol before the power scaling below, delayed by the filter's half span.
5. **AWGN** for a given Eb/N0, Eb being the energy per bit of the CADU stream
   (the bits before the convolutional encoder, so Es/N0 = Eb/N0 · r with
   r = 1/2 on concatenated bands, 1 otherwise).

Samples are scaled so the mean signal power per sample is 1 (an Es of
``samples_per_symbol``); the noise variance per complex sample is then
``samples_per_symbol / (Es/N0)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ..ccsds.conv import ConvolutionalEncoder
from ..errors import ConfigError

#: The lowest samples per symbol we write: gr-satellites refuses 4 and less for BPSK.
MIN_SAMPLES_PER_SYMBOL: Final = 8
DEFAULT_ROLLOFF: Final = 0.35
#: Symbols of the RRC filter on each side of its peak.
RRC_HALF_SPAN_SYMBOLS: Final = 8


def rrc_taps(samples_per_symbol: int, rolloff: float,
             half_span: int = RRC_HALF_SPAN_SYMBOLS) -> npt.NDArray[np.float64]:
    """Root-raised-cosine impulse response, unit energy, ``2·half_span·sps + 1`` taps.

    The textbook closed form (e.g. Proakis, Digital Communications, 9.2), with its
    limits at t = 0 and at t = ±T/(4α).
    """
    sps, a = samples_per_symbol, rolloff
    t = np.arange(-half_span * sps, half_span * sps + 1, dtype=np.float64) / sps
    h = np.empty_like(t)
    for i, ti in enumerate(t):
        if ti == 0.0:
            h[i] = 1.0 - a + 4.0 * a / np.pi
        elif a > 0 and abs(abs(ti) - 1.0 / (4.0 * a)) < 1e-12:
            h[i] = (a / np.sqrt(2.0)) * ((1 + 2 / np.pi) * np.sin(np.pi / (4 * a))
                                         + (1 - 2 / np.pi) * np.cos(np.pi / (4 * a)))
        else:
            num = np.sin(np.pi * ti * (1 - a)) + 4 * a * ti * np.cos(np.pi * ti * (1 + a))
            den = np.pi * ti * (1 - (4 * a * ti) ** 2)
            h[i] = num / den
    out: npt.NDArray[np.float64] = h / np.sqrt(np.sum(h * h))
    return out


@dataclass(frozen=True)
class IqSettings:
    """How a CADU stream becomes samples."""

    samples_per_symbol: int
    convolutional: bool = False
    differential: bool = True
    rolloff: float = DEFAULT_ROLLOFF
    ebn0_db: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.samples_per_symbol < MIN_SAMPLES_PER_SYMBOL:
            raise ConfigError(
                f"{self.samples_per_symbol} samples per symbol; IQ needs at least "
                f"{MIN_SAMPLES_PER_SYMBOL} (gr-satellites refuses 4 or fewer for BPSK)"
            )
        if not 0.0 < self.rolloff <= 1.0:
            raise ConfigError(f"rolloff {self.rolloff}: must be in (0, 1]")

    @property
    def code_rate(self) -> float:
        return 0.5 if self.convolutional else 1.0

    @property
    def noise_variance(self) -> float:
        """Complex noise variance per sample (0 without noise)."""
        if self.ebn0_db is None:
            return 0.0
        esn0 = 10.0 ** (self.ebn0_db / 10.0) * self.code_rate
        return float(self.samples_per_symbol / esn0)


class IqModulator:
    """Stateful BPSK modulator: CADU stream chunks in, complex64 samples out."""

    def __init__(self, settings: IqSettings) -> None:
        self.settings = settings
        sps = settings.samples_per_symbol
        taps = rrc_taps(sps, settings.rolloff) * np.sqrt(sps)  # mean power 1 per sample
        # Polyphase: output sample k·sps + m is sum_j a[k - j] · taps[j·sps + m].
        n_branch = -(-taps.size // sps)
        padded = np.zeros(n_branch * sps)
        padded[: taps.size] = taps
        self._phases = padded.reshape(n_branch, sps).T.copy()  # (sps, n_branch)
        self._history = np.zeros(n_branch - 1)  # the last symbols, for filter continuity
        self._level = 0  # NRZ-M: the last transmitted level
        self._conv = ConvolutionalEncoder() if settings.convolutional else None
        self._rng = np.random.default_rng(settings.seed)
        self.symbols = 0

    def channel_bits(self, cadu_stream: bytes | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Steps 1-2: the channel bits (NRZ-M, then the convolutional code)."""
        data = np.frombuffer(bytes(cadu_stream), dtype=np.uint8)
        if self.settings.differential and data.size:
            bits = np.unpackbits(data)
            bits[0] ^= self._level
            bits = np.bitwise_xor.accumulate(bits)
            self._level = int(bits[-1])
            data = np.packbits(bits)
        if self._conv is not None:
            data = self._conv.encode(data)
        return np.unpackbits(data)

    def _shape(self, symbols: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        sps = self.settings.samples_per_symbol
        ext = np.concatenate([self._history, symbols])
        keep = self._history.size
        out = np.empty((symbols.size, sps))
        for m in range(sps):
            out[:, m] = np.convolve(ext, self._phases[m], mode="full")[keep : keep + symbols.size]
        if keep:
            self._history = ext[-keep:]
        return out.reshape(-1)

    def _samples(self, symbols: npt.NDArray[np.float64]) -> npt.NDArray[np.complex64]:
        real = self._shape(symbols)
        self.symbols += symbols.size
        out = real.astype(np.complex128)
        var = self.settings.noise_variance
        if var:
            # I and Q drawn interleaved, so the noise does not depend on chunk sizes.
            sigma = np.sqrt(var / 2.0)
            out += sigma * self._rng.standard_normal(2 * out.size).view(np.complex128)
        return out.astype(np.complex64)

    def modulate(self, cadu_stream: bytes | npt.NDArray[np.uint8]) -> npt.NDArray[np.complex64]:
        """Samples for the next chunk of the CADU stream."""
        bits = self.channel_bits(cadu_stream)
        return self._samples(2.0 * bits.astype(np.float64) - 1.0)

    def flush(self) -> npt.NDArray[np.complex64]:
        """The filter's tail: the pulses of the last symbols ring out over zeros."""
        return self._samples(np.zeros(self._history.size))

"""``iq:PATH?samp_rate=N&baud=N[&diff=1]``: the channel stream as baseband BPSK IQ.

Each bit of the channel stream (what a ``file:`` sink would hold) is one BPSK
symbol: bit 0 -> +1, bit 1 -> -1, most significant bit first, held for
``samp_rate / baud`` samples (rectangular NRZ pulses; the ratio must be a whole
number >= 2).  ``diff=1`` applies NRZ-M differential precoding first (a 1 bit
toggles the level, CCSDS 401.0 2.4.12), which resolves the 180 degree phase
ambiguity of BPSK for a receiver such as gr-satellites
(``precoding: differential``).  The file holds interleaved little-endian
float32 I and Q, the GNU Radio ``gr_complex`` file format (``.cf32``), and no
header: the sample rate is the one in the URL.
"""

from __future__ import annotations

import asyncio
from typing import BinaryIO

import numpy as np

from lunar_hil.emulator.errors import LinkError, UrlError

from .base import AsyncOpenClose, new_counters
from .url import DriverUrl

#: Input bytes turned into samples per step (bounds memory: 64 KiB in -> 4 MiB
#: of samples per sample-per-symbol).
IQ_CHUNK = 65536


class IqSink(AsyncOpenClose):
    """Write the stream as BPSK baseband samples (complex float32) to a file."""

    def __init__(self, url: DriverUrl, *, symbol_rate: int | None = None) -> None:
        self.parsed = url
        self.url = url.display
        self.counters = new_counters()
        self.counters["samples"] = 0
        samp_rate = url.int_param("samp_rate", 0)
        baud = url.int_param("baud", symbol_rate or 0)  # the URL's baud= wins
        if not samp_rate:
            raise UrlError(f"{self.url}: samp_rate missing (samples per second)")
        if not baud:
            raise UrlError(f"{self.url}: baud missing (channel symbols per second)")
        if samp_rate % baud or samp_rate // baud < 2:
            raise UrlError(
                f"{self.url}: samp_rate {samp_rate} must be a whole multiple (>= 2) of baud {baud}"
            )
        self.samp_rate = samp_rate
        self.baud = baud
        self.samples_per_symbol = samp_rate // baud
        self.differential = url.params.get("diff", "0") == "1"
        self._level = 0  # NRZ-M state: the last transmitted level bit
        self._file: BinaryIO | None = None

    async def open(self) -> None:
        try:
            self._file = open(self.parsed.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise LinkError(f"{self.url}: cannot open for writing: {exc}") from exc

    def modulate(self, data: bytes) -> np.ndarray:
        """The complex64 samples for ``data`` (continues the NRZ-M state)."""
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        if self.differential and bits.size:
            # NRZ-M: level[n] = level[n-1] XOR bit[n], started from the last level.
            bits[0] ^= self._level
            bits = np.bitwise_xor.accumulate(bits)
            self._level = int(bits[-1])
        symbols = (1.0 - 2.0 * bits.astype(np.float32)).astype(np.complex64)
        return np.repeat(symbols, self.samples_per_symbol)

    async def write(self, data: bytes) -> None:
        if self._file is None:
            raise LinkError(f"{self.url}: write before open() or after close()")
        self.counters["writes"] += 1
        view = memoryview(bytes(data))
        for start in range(0, len(view), IQ_CHUNK):
            samples = self.modulate(bytes(view[start : start + IQ_CHUNK]))
            try:
                self._file.write(samples.astype("<c8").tobytes())
            except OSError as exc:
                raise LinkError(f"{self.url}: write failed: {exc}") from exc
            self.counters["samples"] += samples.size
            await asyncio.sleep(0)
        self.counters["bytes_out"] += len(view)

    async def close(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            file.close()
        except OSError as exc:
            raise LinkError(f"{self.url}: close failed: {exc}") from exc

"""``iq:PATH?samp_rate=N[&baud=N][&diff=0][&ebn0=DB]``: the downlink as baseband BPSK IQ.

The samples follow the conventions of gr-satellites and real ground stations;
:class:`~lunar_hil.emulator.phy.iq.IqModulator` does the work:

* NRZ-M (``precoding: differential`` in SatYAML) on the data bits, on by
  default; ``diff=0`` turns it off;
* on a concatenated band (``convolutional=True``), the sink takes the CADU
  stream (ASM + randomized RS codeblock, the ``cadu`` layer) and applies the
  convolutional code r=1/2 K=7 *after* NRZ-M, as gr-satellites expects; on a
  band without it, the CADU stream is the channel stream;
* a channel bit 1 is +1 and 0 is -1 (GNU Radio's BPSK slicer);
* root-raised-cosine pulses, roll-off 0.35, peak at ``8 * samples_per_symbol``
  samples after the symbol (the filter's half span);
* AWGN at ``ebn0_db`` (Eb per CADU bit) when the caller or the URL (``ebn0=DB``)
  gives one; otherwise, on a concatenated band under the link model, at the
  budget's Eb/N0 of each engine block (:meth:`IqSink.set_link_ebn0`).

``baud`` is the channel symbol rate (2x the CADU bit rate on a concatenated
band); the URL's ``baud=`` wins over the ``symbol_rate`` the run passes.
``samp_rate`` must be a whole multiple of it, at least 8 samples per symbol:
gr-satellites refuses 4 for BPSK. The file holds interleaved little-endian
float32 I and Q (GNU Radio's ``gr_complex``, ``.cf32``) with no header; on
close the filter's tail rings out (16 symbols of samples).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any, BinaryIO

from lunar_hil.emulator.errors import ConfigError, LinkError, UrlError
from lunar_hil.emulator.phy.iq import MIN_SAMPLES_PER_SYMBOL, IqModulator, IqSettings

from .base import AsyncOpenClose, new_counters
from .url import DriverUrl

#: Input bytes turned into samples per step (bounds memory: 16 KiB in -> at most
#: 256 Ki symbols, 2 MiB of samples per sample-per-symbol).
IQ_CHUNK = 16384
#: More samples per symbol than this would make one chunk hundreds of MiB.
MAX_SAMPLES_PER_SYMBOL = 64


def _samples_per_symbol_problem(samp_rate: int, baud: int) -> str | None:
    """Why ``samp_rate`` cannot carry ``baud`` (None when it can): it must be a
    whole multiple of it, MIN..MAX samples per symbol."""
    if samp_rate % baud or samp_rate // baud < MIN_SAMPLES_PER_SYMBOL:
        return (f"samp_rate {samp_rate} must be a whole multiple "
                f"(>= {MIN_SAMPLES_PER_SYMBOL}) of baud {baud}, for example "
                f"samp_rate={MIN_SAMPLES_PER_SYMBOL * baud} (gr-satellites refuses fewer than "
                f"{MIN_SAMPLES_PER_SYMBOL} samples per symbol)")
    if samp_rate // baud > MAX_SAMPLES_PER_SYMBOL:
        return (f"samp_rate {samp_rate} is {samp_rate // baud} samples per symbol of "
                f"baud {baud}; at most {MAX_SAMPLES_PER_SYMBOL} (memory per chunk grows with it)")
    return None


class IqSink(AsyncOpenClose):
    """Write the stream as BPSK baseband samples (complex float32) to a file."""

    def __init__(self, url: DriverUrl, *, symbol_rate: int | None = None,
                 convolutional: bool = False, ebn0_db: float | None = None,
                 seed: int = 0) -> None:
        self.parsed = url
        self.url = url.display
        self.counters = new_counters()
        self.counters["samples"] = 0
        samp_rate = url.int_param("samp_rate", 0)
        baud = url.int_param("baud", symbol_rate or 0)  # the URL's baud= wins
        #: An Eb/N0 the URL fixed wins over the link model's (set_link_ebn0).
        self.ebn0_fixed = "ebn0" in url.params or ebn0_db is not None
        if "ebn0" in url.params:  # ?ebn0=DB: AWGN at that Eb/N0 (Eb per CADU bit)
            text = url.params["ebn0"]
            try:
                ebn0_db = float(text)
            except ValueError:
                raise UrlError(f"{self.url}: ebn0={text[:20]!r} is not a number of dB") from None
            if not -10.0 <= ebn0_db <= 100.0:
                raise UrlError(f"{self.url}: ebn0={ebn0_db:g} dB is outside -10..100")
        if not samp_rate:
            raise UrlError(f"{self.url}: samp_rate missing (samples per second)")
        if not baud:
            raise UrlError(f"{self.url}: baud missing (channel symbols per second)")
        problem = _samples_per_symbol_problem(samp_rate, baud)
        if problem:
            raise UrlError(f"{self.url}: {problem}")
        self.samp_rate = samp_rate
        self.baud = baud
        self.samples_per_symbol = samp_rate // baud
        diff = url.params.get("diff", "1")
        if diff not in ("0", "1"):
            raise UrlError(f"{self.url}: diff={diff!r}; expected 0 or 1")
        try:
            self.settings = IqSettings(samples_per_symbol=self.samples_per_symbol,
                                       convolutional=convolutional, differential=diff == "1",
                                       ebn0_db=ebn0_db, seed=seed)
        except ConfigError as exc:
            raise UrlError(f"{self.url}: {exc}") from None
        self._modulator = IqModulator(self.settings)
        self._file: BinaryIO | None = None
        self._refused: str | None = None
        self.last_error: str | None = None

    def set_link_ebn0(self, ebn0_db: float | None) -> None:
        """The link model's Eb/N0 (per CADU bit) for what is written next.

        Only on a convolutional band, where this sink takes the error-free CADUs
        and codes them itself: the noise is then the channel's errors. On the
        other bands the stream it takes already carries the link's bit errors.
        A URL's ``ebn0=`` wins."""
        if self.ebn0_fixed or not self.settings.convolutional:
            return
        if ebn0_db is not None and not math.isfinite(ebn0_db):
            ebn0_db = None
        if ebn0_db is not None:
            ebn0_db = min(max(ebn0_db, -10.0), 100.0)
        if ebn0_db != self.settings.ebn0_db:
            self.settings = dataclasses.replace(self.settings, ebn0_db=ebn0_db)
            self._modulator.settings = self.settings

    async def retune(self, *, symbol_rate: int | None = None, convolutional: bool = False,
                     **_band: Any) -> None:
        """A band switch: the new band's symbols at the same sample rate (the
        file keeps one ``samp_rate``) from a new modulator, after the old one's
        filter tail. A baud the
        sample rate cannot carry (not a whole number of samples per symbol in
        range) is not modulated: its bytes are counted in ``dropped_bytes`` and
        the reason kept in ``last_error``, until a band it can carry returns."""
        self.counters["band_switches"] = self.counters.get("band_switches", 0) + 1
        baud = int(symbol_rate or 0)
        problem = (_samples_per_symbol_problem(self.samp_rate, baud) if baud
                   else "baud missing (channel symbols per second)")
        if problem:
            self._refused = f"{self.url}: after a band switch: {problem}"
            self.last_error = self._refused
            return
        self._refused = None
        if self._file is not None:  # end the old band's symbols before the new rate
            self._flush_modulator()
        self.baud, self.samples_per_symbol = baud, self.samp_rate // baud
        sps = self.samples_per_symbol
        self.settings = dataclasses.replace(self.settings, samples_per_symbol=sps,
                                            convolutional=convolutional)
        self._modulator = IqModulator(self.settings)

    def _flush_modulator(self) -> None:
        """Write the pulse-shaping filter's tail (the last symbols ring out)."""
        tail = self._modulator.flush()
        self._put(tail.astype("<c8").tobytes())
        self.counters["samples"] += tail.size

    async def open(self) -> None:
        try:
            self._file = open(self.parsed.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise LinkError(f"{self.url}: cannot open for writing: {exc}") from exc

    def _put(self, samples: bytes) -> None:
        assert self._file is not None
        try:
            self._file.write(samples)
        except OSError as exc:
            raise LinkError(f"{self.url}: write failed: {exc}") from exc

    async def write(self, data: bytes) -> None:
        if self._file is None:
            raise LinkError(f"{self.url}: write before open() or after close()")
        self.counters["writes"] += 1
        raw = bytes(data)
        if self._refused is not None:
            self.counters["dropped_bytes"] += len(raw)
            return
        for start in range(0, len(raw), IQ_CHUNK):
            samples = self._modulator.modulate(raw[start : start + IQ_CHUNK])
            self._put(samples.astype("<c8").tobytes())
            self.counters["samples"] += samples.size
            await asyncio.sleep(0)
        self.counters["bytes_out"] += len(raw)

    async def close(self) -> None:
        if self._file is None:
            return
        try:
            self._flush_modulator()
        finally:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:
                raise LinkError(f"{self.url}: close failed: {exc}") from exc

"""The BPSK modulator, checked with an independent receiver written here.

The receiver is textbook: matched filter (the RRC taps, computed again here from
the closed form), sample at symbol centres, slice at 0 (GNU Radio's
``binary_slicer_fb``: x >= 0 -> 1), then undo NRZ-M by XOR with the previous
bit, and on concatenated bands run our Viterbi decoder.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.conv import conv_encode, viterbi_decode
from lunar_hil.emulator.errors import ConfigError
from lunar_hil.emulator.phy.iq import IqModulator, IqSettings

SPS = 8
HALF_SPAN = 8  # symbols each side of the RRC peak, as the modulator uses


def rrc(sps: int, a: float) -> np.ndarray:
    """RRC from its closed form, written independently of the module under test."""
    t = np.arange(-HALF_SPAN * sps, HALF_SPAN * sps + 1) / sps
    with np.errstate(divide="ignore", invalid="ignore"):
        h = (np.sin(np.pi * t * (1 - a)) + 4 * a * t * np.cos(np.pi * t * (1 + a))) / (
            np.pi * t * (1 - (4 * a * t) ** 2))
    h[t == 0] = 1 - a + 4 * a / np.pi
    sing = np.isclose(np.abs(t), 1 / (4 * a))
    h[sing] = a / np.sqrt(2) * ((1 + 2 / np.pi) * np.sin(np.pi / (4 * a))
                                + (1 - 2 / np.pi) * np.cos(np.pi / (4 * a)))
    return h / np.linalg.norm(h)


def receive(samples: np.ndarray, n_symbols: int) -> np.ndarray:
    """Matched filter, then one sample per symbol at the pulse peak (tx + rx delay)."""
    y = np.convolve(samples, rrc(SPS, 0.35))
    delay = 2 * HALF_SPAN * SPS
    return y[delay : delay + n_symbols * SPS : SPS]


def modulate_all(settings_: IqSettings, data: bytes) -> np.ndarray:
    m = IqModulator(settings_)
    return np.concatenate([m.modulate(data), m.flush()])


def nrzm_decode(bits: np.ndarray) -> np.ndarray:
    return bits ^ np.concatenate([[0], bits[:-1]])


DATA = np.random.default_rng(7).integers(0, 256, 600, dtype=np.uint8).tobytes()


def test_rs_band_polarity_shaping_and_nrzm() -> None:
    x = modulate_all(IqSettings(samples_per_symbol=SPS), DATA)
    z = receive(x, 8 * len(DATA))
    assert np.all(np.abs(z.imag) < 1e-5)  # BPSK: all on I
    # Nyquist: after the matched filter the symbol centres are +-sqrt(sps), little ISI.
    assert np.allclose(np.abs(z.real), np.sqrt(SPS), rtol=0.02)
    sliced = (z.real >= 0).astype(np.uint8)  # GNU Radio slicer: +1 reads as bit 1
    assert np.array_equal(np.packbits(nrzm_decode(sliced)).tobytes(), DATA)


def test_concatenated_band_nrzm_comes_before_the_convolutional_code() -> None:
    x = modulate_all(IqSettings(samples_per_symbol=SPS, convolutional=True), DATA)
    sliced = (receive(x, 16 * len(DATA)).real >= 0).astype(np.uint8)
    nrzm = np.bitwise_xor.accumulate(np.unpackbits(np.frombuffer(DATA, np.uint8)))
    assert np.array_equal(sliced, np.unpackbits(conv_encode(np.packbits(nrzm))))
    decoded = viterbi_decode(np.packbits(sliced))
    assert np.packbits(nrzm_decode(np.unpackbits(decoded))).tobytes()[:-8] == DATA[:-8]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, len(DATA)), max_size=4), st.booleans())
def test_chunking_does_not_change_the_samples(cuts: list[int], conv: bool) -> None:
    s = IqSettings(samples_per_symbol=SPS, convolutional=conv, ebn0_db=3.0, seed=1)
    whole = modulate_all(s, DATA)
    m = IqModulator(s)
    bounds = [0, *sorted(cuts), len(DATA)]
    parts = [m.modulate(DATA[a:b]) for a, b in itertools.pairwise(bounds)]
    chunked = np.concatenate([*parts, m.flush()])
    assert chunked.shape == whole.shape
    assert np.allclose(chunked, whole, atol=1e-5)


@pytest.mark.parametrize(("conv", "ebn0_db"), [(False, 4.0), (True, 6.0)])
def test_noise_gives_the_requested_eb_n0(conv: bool, ebn0_db: float) -> None:
    data = np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    s = IqSettings(samples_per_symbol=SPS, convolutional=conv, differential=False,
                   ebn0_db=ebn0_db, seed=5)
    clean = modulate_all(IqSettings(samples_per_symbol=SPS, convolutional=conv,
                                    differential=False), data)
    noise = modulate_all(s, data) - clean
    n = (16 if conv else 8) * len(data)
    es = np.mean(np.abs(clean[: n * SPS]) ** 2) * SPS  # energy per channel symbol
    n0 = np.var(noise)  # complex noise power per sample = N0 at 1 sample spacing
    eb = es * (2 if conv else 1)  # r = 1/2: two channel symbols per CADU bit
    assert 10 * np.log10(eb / n0) == pytest.approx(ebn0_db, abs=0.15)


def test_fewer_than_eight_samples_per_symbol_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 8"):
        IqSettings(samples_per_symbol=4)

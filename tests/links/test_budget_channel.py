"""Link budget and channel statistics against hand figures."""

from __future__ import annotations

import itertools
import math

import numpy as np

from lunar_hil.emulator.links import (
    GilbertElliott,
    LinkChannel,
    channel_ber,
    ebn0_db,
    free_space_loss_db,
)
from lunar_hil.emulator.links.budget import Coding


def test_free_space_loss_and_ebn0_by_hand() -> None:
    # X band 8.4 GHz over the mean Earth-Moon distance 384,400 km:
    # 4 pi d f / c = 4 pi x 3.844e8 x 8.4e9 / 2.99792458e8 = 1.35349e11
    # -> 20 log10 = 222.63 dB.
    assert abs(float(free_space_loss_db(384_400.0, 8.4e9)) - 222.63) < 0.01
    # EIRP 10 dBW, G/T 50 dB/K, 100 kbit/s, 2 dB misc losses, k = -228.6 dBW/K/Hz:
    # 10 - 222.63 - 2 + 50 + 228.6 - 50 = 13.97 dB.
    assert abs(float(ebn0_db(10.0, 384_400.0, 8.4e9, 50.0, 1e5)) - 13.97) < 0.01


def test_channel_ber_bpsk_by_hand() -> None:
    # Uncoded BPSK at Eb/N0 = 9.6 dB: 0.5 erfc(sqrt(9.12)) = 1.0e-5 (textbook).
    assert abs(float(channel_ber(9.6, Coding.UNCODED)) - 1.0e-5) < 0.1e-5
    # With r = 1/2 each symbol carries half the energy: Es/N0 = Eb/N0 - 3.01 dB.
    es = 10 ** (4.0 / 10) / 2
    assert math.isclose(float(channel_ber(4.0, Coding.CONCATENATED)), 0.5 * math.erfc(math.sqrt(es)))


def _flips(a: bytes, b: bytes) -> int:
    x = np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)
    return int(np.unpackbits(x).sum())


def test_random_errors_within_binomial_bounds() -> None:
    n_bits, p = 1 << 23, 1e-3
    data = bytes(n_bits // 8)
    ch = LinkChannel(seed=5)
    out = ch.apply(data, p)
    k = _flips(data, out)
    mean, sd = n_bits * p, math.sqrt(n_bits * p * (1 - p))
    assert abs(k - mean) < 4.5 * sd
    assert k == ch.random_errors


def test_gilbert_elliott_burst_lengths_and_rate() -> None:
    ge = GilbertElliott(mean_good_bits=20_000, mean_bad_bits=64, bad_error_rate=0.5)
    n_bits = 1 << 24
    data = bytes(n_bits // 8)
    ch = LinkChannel(seed=9)
    out = ch.apply(data, 0.0, ge)
    # ~n / (20000 + 64) = 836 bursts; the mean of a geometric sojourn with
    # p = 1/64 is 64 bits, standard deviation sqrt(1 - p) / p = 63.5.
    assert 700 < ch.bursts < 980
    sd_mean = 63.5 / math.sqrt(ch.bursts)
    assert abs(ch.burst_bits / ch.bursts - 64.0) < 4.5 * sd_mean
    # In Bad every bit is wrong with probability 1/2: binomial over the burst bits.
    k = _flips(data, out)
    assert abs(k - 0.5 * ch.burst_bits) < 4.5 * math.sqrt(0.25 * ch.burst_bits)
    # Long-run rate as documented.
    assert abs(ge.burst_ber - 0.5 * 64 / 20_064) < 1e-12


def test_errors_do_not_depend_on_how_the_stream_is_cut() -> None:
    ge = GilbertElliott(5_000, 40, 0.5)
    data = bytes(range(256)) * 2048
    whole = LinkChannel(seed=3).apply(data, 1e-3, ge)
    ch = LinkChannel(seed=3)
    cuts = [0, 1, 777, 5000, 65536, 300001, len(data)]
    parts = b"".join(ch.apply(data[a:b], 1e-3, ge) for a, b in itertools.pairwise(cuts))
    assert parts == whole
    assert LinkChannel(seed=4).apply(data, 1e-3, ge) != whole

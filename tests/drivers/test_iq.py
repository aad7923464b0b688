"""iq: sink: the file holds the modulator's samples (cf32), whatever the write sizes.

The modulation itself (polarity, RRC, NRZ-M before the convolutional code,
AWGN) is checked against an independent receiver in
tests/ground/test_iq_modulator.py, and by gr-satellites in
tests/ground/test_gr_satellites.py. Here: the URL, the file format, chunking,
the filter tail on close, and the counters.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.drivers import open_sink
from lunar_hil.drivers.iq import IqSink
from lunar_hil.drivers.url import parse_url
from lunar_hil.emulator.errors import UrlError
from lunar_hil.emulator.phy.iq import RRC_HALF_SPAN_SYMBOLS, IqModulator, IqSettings
from tests.drivers.aio import run_bounded


def write_iq(sink: IqSink, pieces: list[bytes]) -> IqSink:
    async def main() -> IqSink:
        async with sink:
            for piece in pieces:
                await sink.write(piece)
        return sink

    return run_bounded(main())


def reference(data: bytes, sps: int, *, conv: bool = False, diff: bool = True) -> np.ndarray:
    m = IqModulator(IqSettings(samples_per_symbol=sps, convolutional=conv, differential=diff))
    return np.concatenate([m.modulate(data), m.flush()])


def test_file_is_the_modulated_stream_as_little_endian_cf32(tmp_path: Path) -> None:
    data = os.urandom(300)
    path = tmp_path / "x.cf32"
    sink = write_iq(IqSink(parse_url(f"iq:{path}?samp_rate=8000&baud=1000")), [data])
    raw = np.fromfile(path, dtype="<f4")
    samples = raw[0::2] + 1j * raw[1::2]
    n_symbols = 8 * len(data) + 2 * RRC_HALF_SPAN_SYMBOLS  # the filter tail on close
    assert samples.size == n_symbols * 8 == sink.counters["samples"]
    assert np.allclose(samples, reference(data, 8), atol=1e-6)
    assert sink.counters["bytes_out"] == len(data)


def test_symbol_rate_from_the_run_and_nrzm_off(tmp_path: Path) -> None:
    """Without baud= in the URL the run's channel symbol rate sets samples per symbol."""
    data = os.urandom(100)
    path = tmp_path / "y.cf32"
    sink = open_sink(f"iq:{path}?samp_rate=160000&diff=0", symbol_rate=10000)
    assert isinstance(sink, IqSink) and sink.samples_per_symbol == 16
    write_iq(sink, [data])
    assert np.allclose(np.fromfile(path, dtype="<c8"), reference(data, 16, diff=False), atol=1e-6)


def test_convolutional_sink_takes_cadus_and_codes_them(tmp_path: Path) -> None:
    data = os.urandom(200)
    path = tmp_path / "c.cf32"
    sink = IqSink(parse_url(f"iq:{path}?samp_rate=80000"), symbol_rate=10000, convolutional=True)
    write_iq(sink, [data[:77], data[77:]])
    samples = np.fromfile(path, dtype="<c8")
    assert samples.size == (16 * len(data) + 2 * RRC_HALF_SPAN_SYMBOLS) * 8
    assert np.allclose(samples, reference(data, 8, conv=True), atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(data=st.binary(min_size=1, max_size=40000), cut=st.integers(0, 40000))
def test_any_stream_written_in_pieces_gives_the_same_samples(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, cut: int
) -> None:
    path = tmp_path_factory.mktemp("iq") / "s.cf32"
    cut %= len(data) + 1
    write_iq(IqSink(parse_url(f"iq:{path}?samp_rate=8000&baud=1000")), [data[:cut], data[cut:]])
    assert np.allclose(np.fromfile(path, dtype="<c8"), reference(data, 8), atol=1e-5)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("samp_rate=1000&baud=300", "must be a whole multiple (>= 8) of baud 300"),
        ("samp_rate=4000&baud=1000", "for example samp_rate=8000 (gr-satellites refuses fewer"),
        ("samp_rate=8000&baud=1000&diff=2", "diff=2 must be 0 or 1"),
        ("samp_rate=8000", "baud missing"),
        ("samp_rate=8000&baud=1000&ebn0=loud", "ebn0='loud' is not a number of dB"),
        ("samp_rate=8000&baud=1000&ebn0=1e9", "ebn0=1e+09 dB is outside -10..100"),
    ],
)
def test_bad_urls_are_one_line_url_errors(tmp_path: Path, query: str, message: str) -> None:
    with pytest.raises(UrlError) as info:
        open_sink(f"iq:{tmp_path}/x.cf32?{query}")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_iq_noise_follows_the_link_budget(tmp_path: Path) -> None:
    """Under the link model, an ``iq:`` output on a concatenated band draws its
    AWGN from the budget's Eb/N0: the samples minus the same run's CADUs
    modulated without noise are noise of variance sps / (Eb/N0 * 1/2), computed
    here by hand. HAKUTO-R M1's S band: near side, direct to Earth."""
    import argparse
    import asyncio

    from lunar_hil.emulator.commands.run import build_emulator, register

    sps, seconds = 8, 4
    baud = 2 * 64_000  # M1 S band: 64 kbit/s CADUs, rate-1/2 code
    iq, cadus = tmp_path / "m1.cf32", tmp_path / "m1.cadu"
    ap = argparse.ArgumentParser()
    register(ap.add_subparsers())
    args = ap.parse_args(["run", "--profile", "hakuto-r-m1", "--band", "S", "--speed", "max",
                          "--idle", "--duration", str(seconds),
                          "--out", f"iq:{iq}?samp_rate={sps * baud}",
                          "--out", f"file:{cadus}?layer=cadu"])
    args.profile = args.profile[0]
    emu, _rs, _rig, _ = build_emulator(args)
    assert emu.schedule.step_s > seconds  # one budget step: one Eb/N0 for the run
    ebn0_db = float(emu._tl.ebn0_db[0])
    assert 0 < ebn0_db < 60
    asyncio.run(emu.run())
    noisy = np.fromfile(iq, dtype="<c8").astype(np.complex128)
    mod = IqModulator(IqSettings(samples_per_symbol=sps, convolutional=True))
    clean = np.concatenate([mod.modulate(cadus.read_bytes()), mod.flush()]).astype(np.complex128)
    assert noisy.size == clean.size
    measured = float(np.mean(np.abs(noisy - clean) ** 2))
    expected = sps / (10 ** (ebn0_db / 10) * 0.5)
    # The mean of N ~ 1e7 exponential draws: relative sd 1/sqrt(N), far below 1 %.
    assert abs(measured / expected - 1) < 0.01


def test_a_url_ebn0_wins_over_the_link_model(tmp_path: Path) -> None:
    sink = IqSink(parse_url(f"iq:{tmp_path / 'a.cf32'}?samp_rate=80000&ebn0=7"),
                  symbol_rate=10_000, convolutional=True)
    sink.set_link_ebn0(2.0)
    assert sink.settings.ebn0_db == 7.0
    plain = IqSink(parse_url(f"iq:{tmp_path / 'b.cf32'}?samp_rate=80000"), symbol_rate=10_000)
    plain.set_link_ebn0(2.0)  # no convolutional code: the stream carries the errors
    assert plain.settings.ebn0_db is None

"""iq: sink: BPSK baseband samples, checked with an independent slicer in numpy."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.drivers.base import open_sink
from lunar_hil.drivers.iq import IqSink
from lunar_hil.emulator.errors import UrlError
from tests.drivers.aio import run_bounded


def write_iq(path: Path, pieces: list[bytes], sps: int, diff: bool) -> IqSink:
    async def main() -> IqSink:
        url = f"iq:{path}?samp_rate={1000 * sps}&baud=1000" + ("&diff=1" if diff else "")
        sink = open_sink(url)
        assert isinstance(sink, IqSink)
        await sink.open()
        for piece in pieces:
            await sink.write(piece)
        await sink.close()
        return sink

    return run_bounded(main())


def slice_bits(path: Path, sps: int, diff: bool) -> bytes:
    """Integrate-and-dump over each symbol, decide on the sign, undo NRZ-M."""
    samples = np.fromfile(path, dtype="<c8")
    levels = (samples.reshape(-1, sps).real.sum(axis=1) < 0).astype(np.uint8)
    if diff:
        # NRZ-M decoding: a bit is 1 where the level changed (level before start: 0).
        levels = np.bitwise_xor(levels, np.concatenate(([0], levels[:-1])).astype(np.uint8))
    return np.packbits(levels).tobytes()


def test_bpsk_mapping_and_file_format(tmp_path: Path) -> None:
    """0x80 = bits 1000 0000, MSB first: one -1 symbol then seven +1, each held
    for samp_rate/baud samples, written as little-endian float32 I, Q pairs."""
    path = tmp_path / "x.cf32"
    write_iq(path, [b"\x80"], sps=2, diff=False)
    raw = path.read_bytes()
    assert len(raw) == 8 * 2 * 8
    minus, plus = struct.pack("<ff", -1.0, 0.0), struct.pack("<ff", 1.0, 0.0)
    assert raw == minus * 2 + plus * 14


def test_nrzm_levels_by_hand(tmp_path: Path) -> None:
    """NRZ-M (CCSDS 401.0 2.4.12): a 1 toggles the level, a 0 keeps it.
    Bits 1011 0000 from level 0 give levels 1101 1111 -> symbols - - + - - - - -."""
    path = tmp_path / "m.cf32"
    write_iq(path, [b"\xb0"], sps=2, diff=True)
    levels = (np.fromfile(path, dtype="<c8").real[::2] < 0).astype(int).tolist()
    assert levels == [1, 1, 0, 1, 1, 1, 1, 1]


@settings(max_examples=30, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=3000),
    cut=st.integers(0, 3000),
    sps=st.integers(2, 6),
    diff=st.booleans(),
)
def test_any_stream_written_in_pieces_slices_back(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, cut: int, sps: int, diff: bool
) -> None:
    path = tmp_path_factory.mktemp("iq") / "s.cf32"
    cut %= len(data) + 1
    sink = write_iq(path, [data[:cut], data[cut:]], sps=sps, diff=diff)
    assert slice_bits(path, sps, diff) == data
    assert sink.counters["samples"] == 8 * len(data) * sps
    assert sink.counters["bytes_out"] == len(data)


def test_samp_rate_must_be_a_whole_multiple_of_baud(tmp_path: Path) -> None:
    with pytest.raises(UrlError, match="whole multiple"):
        open_sink(f"iq:{tmp_path}/x.cf32?samp_rate=1000&baud=300")
    with pytest.raises(UrlError, match="whole multiple"):
        open_sink(f"iq:{tmp_path}/x.cf32?samp_rate=1000&baud=1000")


def test_large_write_is_chunked_and_exact(tmp_path: Path) -> None:
    data = os.urandom(200_000)  # several IQ_CHUNK steps
    path = tmp_path / "big.cf32"
    write_iq(path, [data], sps=2, diff=True)
    assert slice_bits(path, 2, True) == data

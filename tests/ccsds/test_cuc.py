"""CUC time codes (CCSDS 301.0-B-4 §3.2)."""

from __future__ import annotations

import calendar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.cuc import (
    TAI_EPOCH_1958_UNIX,
    CucTime,
    cuc_to_unix_seconds,
    decode_cuc_batch,
    encode_cuc_batch,
    unix_to_cuc_seconds,
)
from lunar_hil.emulator.errors import LocalProtocolError, RemoteProtocolError

# (object, P-field + T-field) vectors written out by hand from 301.0-B §3.2.3:
# P-field = 0 | time code ID 001 | coarse octets - 1 (2 bits) | fine octets (2 bits).
VECTORS = [
    # 4 + 2: P = 0 001 11 10 = 0x1E; 1.5 s = coarse 1, fine 0x8000.
    (CucTime(1, 0x8000), bytes.fromhex("1E000000018000")),
    # 1 + 0: P = 0 001 00 00 = 0x10.
    (CucTime(200, 0, 1, 0), bytes.fromhex("10C8")),
    # 4 + 3: P = 0 001 11 11 = 0x1F.
    (CucTime(0xFFFFFFFF, 0xABCDEF, 4, 3), bytes.fromhex("1FFFFFFFFFABCDEF")),
    # 2 + 1: P = 0 001 01 01 = 0x15.
    (CucTime(0x0102, 0x40, 2, 1), bytes.fromhex("15010240")),
]


@pytest.mark.parametrize(("time", "wire"), VECTORS)
def test_vectors(time: CucTime, wire: bytes) -> None:
    assert time.pack(with_pfield=True) == wire
    assert time.pfield() == wire[:1]
    assert time.pack() == wire[1:]
    assert CucTime.unpack(wire, with_pfield=True) == time
    assert (
        CucTime.unpack(wire[1:], coarse_octets=time.coarse_octets, fine_octets=time.fine_octets)
        == time
    )
    fields = np.frombuffer(wire[1:], dtype=np.uint8)
    assert decode_cuc_batch(fields, time.coarse_octets, time.fine_octets) == time.to_seconds()


def test_epoch_constant_is_1958_on_the_unix_scale() -> None:
    # Independent: the calendar module's proleptic count of days.
    assert calendar.timegm((1958, 1, 1, 0, 0, 0)) == TAI_EPOCH_1958_UNIX
    # 2017-01-01 00:00:00 UTC = TAI 37 s later (IERS Bulletin C 52).
    unix_2017 = calendar.timegm((2017, 1, 1, 0, 0, 0))
    assert unix_to_cuc_seconds(unix_2017) == unix_2017 - TAI_EPOCH_1958_UNIX + 37
    assert cuc_to_unix_seconds(unix_to_cuc_seconds(unix_2017)) == unix_2017


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([(4, 2), (4, 3), (4, 1), (3, 2), (2, 0), (1, 3)]),
    st.floats(0, 1, exclude_max=True),
    st.data(),
)
def test_seconds_round_trip_within_resolution(
    octets: tuple[int, int], fraction: float, data: st.DataObject
) -> None:
    coarse_octets, fine_octets = octets
    coarse = data.draw(st.integers(0, (1 << (8 * coarse_octets)) - 1))
    seconds = coarse + fraction
    if seconds >= 1 << (8 * coarse_octets):
        return
    resolution = 2.0 ** (-8 * fine_octets)
    fields = encode_cuc_batch(np.array([seconds]), coarse_octets, fine_octets)
    back = decode_cuc_batch(fields, coarse_octets, fine_octets)[0]
    # Truncation: never later than the instant, never more than one tick (plus
    # float rounding at 2^32) earlier.
    assert back <= seconds
    assert seconds - back < resolution + 2 * np.spacing(seconds)
    time = CucTime.from_seconds(seconds, coarse_octets, fine_octets)
    assert time.to_seconds() == back
    assert time.pack() == fields[0].tobytes()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 2.0**32, exclude_max=True), min_size=0, max_size=30))
def test_batch_equals_scalar(seconds: list[float]) -> None:
    fields = encode_cuc_batch(np.array(seconds, dtype=np.float64).reshape(-1))
    assert fields.shape == (len(seconds), 6)
    for value, row in zip(seconds, fields, strict=True):
        assert CucTime.from_seconds(value).pack() == row.tobytes()


def test_scalar_shapes() -> None:
    assert encode_cuc_batch(1.5).shape == (6,)
    assert float(decode_cuc_batch(encode_cuc_batch(1.5))) == 1.5


@pytest.mark.parametrize("seconds", [-1.0, 2.0**32, float("nan"), float("inf")])
def test_out_of_range_seconds_are_local_errors(seconds: float) -> None:
    with pytest.raises(LocalProtocolError):
        encode_cuc_batch([seconds])


def test_misuse_is_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        CucTime(1 << 32, 0)
    with pytest.raises(LocalProtocolError):
        CucTime(0, 1 << 16)
    with pytest.raises(LocalProtocolError):
        CucTime(0, 0, coarse_octets=5)
    with pytest.raises(LocalProtocolError):
        decode_cuc_batch(np.zeros((2, 5), dtype=np.uint8))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=9))
def test_any_bytes_unpack_or_raise_remote_error(data: bytes) -> None:
    try:
        time = CucTime.unpack(data, with_pfield=True)
    except RemoteProtocolError:
        return
    assert time.pack(with_pfield=True) == data[: 1 + time.coarse_octets + time.fine_octets]

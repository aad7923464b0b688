"""CRC-16 FECF (CCSDS 132.0-B §4.1.6) against the CRC-16/CCITT-FALSE check value and binascii.crc_hqx."""

from __future__ import annotations

import binascii

import fastcrc
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.crc import crc16_batch, crc16_ccitt
from lunar_hil.emulator.errors import LocalProtocolError

# (message, CRC) — 132.0 §4.1.6 (CRC-16/CCITT-FALSE): "123456789" gives 0x29B1.
VECTORS = [(b"123456789", 0x29B1)]


@pytest.mark.parametrize(("message", "expected"), VECTORS)
def test_reference_vector(message: bytes, expected: int) -> None:
    assert crc16_ccitt(message) == expected
    assert crc16_batch(np.frombuffer(message, dtype=np.uint8)) == expected
    assert crc16_batch(message) == expected


def test_empty_message_is_the_preset() -> None:
    # Independent: binascii over zero octets returns the preset register.
    assert crc16_ccitt(b"") == binascii.crc_hqx(b"", 0xFFFF)
    assert crc16_batch(np.zeros((3, 0), dtype=np.uint8)).tolist() == [0xFFFF] * 3


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_scalar_matches_binascii(data: bytes, init: int) -> None:
    assert crc16_ccitt(data, init) == binascii.crc_hqx(data, init)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(0, 1200), st.integers(0, 2**32 - 1))
def test_batch_matches_binascii_and_scalar(rows: int, length: int, seed: int) -> None:
    frames = np.random.default_rng(seed).integers(0, 256, (rows, length), dtype=np.uint8)
    got = crc16_batch(frames)
    assert isinstance(got, np.ndarray) and got.shape == (rows,) and got.dtype == np.uint16
    expected = [binascii.crc_hqx(row.tobytes(), 0xFFFF) for row in frames]
    assert got.tolist() == expected
    assert [crc16_ccitt(row.tobytes()) for row in frames] == expected


def test_every_length_up_to_70_against_fastcrc() -> None:
    # fastcrc's CRC-16/IBM-3740 (= CCITT-FALSE) is a second independent implementation (Rust).
    rng = np.random.default_rng(7)
    for length in range(71):
        frames = rng.integers(0, 256, (5, length), dtype=np.uint8)
        expected = [fastcrc.crc16.ibm_3740(row.tobytes()) for row in frames]
        assert np.asarray(crc16_batch(frames)).tolist() == expected, length


def test_large_batch_chunks_and_non_contiguous_input() -> None:
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (2500, 1116), dtype=np.uint8)  # > one 1 MiB chunk
    view = frames[::2, 1:-1]  # strided rows, odd length
    got = np.asarray(crc16_batch(view))
    assert got.tolist() == [binascii.crc_hqx(row.tobytes(), 0xFFFF) for row in view]


def test_appending_the_crc_gives_zero_remainder() -> None:
    # 132.0-B §4.1.6: the decoder's CRC over frame + FECF is zero for a clean frame.
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, 100, dtype=np.uint8).tobytes()
    crc = crc16_ccitt(frame)
    assert crc16_ccitt(frame + crc.to_bytes(2, "big")) == 0


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 2, 2), dtype=np.uint8), np.array([1, 256]), np.array([-1, 3])]
)
def test_bad_shapes_and_values_are_local_errors(bad: np.ndarray) -> None:
    with pytest.raises(LocalProtocolError):
        crc16_batch(bad)


def test_bad_init_is_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        crc16_ccitt(b"x", 0x10000)

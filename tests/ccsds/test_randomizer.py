"""Pseudo-randomizer (CCSDS 131.0-B §10) against the sequence of 131.0 §10.4 (Figure 10-2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.randomizer import randomize, randomizer_sequence
from lunar_hil.emulator.errors import LocalProtocolError

# 131.0 §10.4: first bytes and byte 254 of the sequence.
FIRST_BYTES = bytes.fromhex("FF480EC09A0D70BC8E2C93ADA7B746CE")
BYTE_254 = 0x58


def test_first_bytes() -> None:
    assert randomizer_sequence(16).tobytes() == FIRST_BYTES


def test_byte_254_and_period_255() -> None:
    sequence = randomizer_sequence(3 * 255 + 7)
    assert sequence[254] == BYTE_254
    assert np.array_equal(sequence[255:510], sequence[:255])
    assert np.array_equal(sequence[510:], sequence[: 255 + 7])
    # The period is exactly 255, not a divisor of it (h(x) is primitive, 131.0-B §10.2).
    for divisor in (3, 5, 15, 17, 51, 85):
        assert not np.array_equal(sequence[divisor : divisor + 255], sequence[:255])


def test_sequence_is_a_maximal_lfsr_output() -> None:
    # The bit stream is an m-sequence of period 255 bits with 128 ones per
    # period; 255 octets hold 8 such periods.
    bits = np.unpackbits(randomizer_sequence(255))
    assert np.array_equal(bits[255:510], bits[:255])
    assert int(bits[:255].sum()) == 128
    assert int(bits.sum()) == 8 * 128


def test_zero_block_randomizes_to_the_sequence() -> None:
    blocks = np.zeros((3, 1275), dtype=np.uint8)
    out = randomize(blocks)
    assert out.shape == (3, 1275)
    assert all(row.tobytes()[:16] == FIRST_BYTES for row in out)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 4), st.integers(0, 2000), st.integers(0, 2**32 - 1))
def test_randomize_is_its_own_inverse(rows: int, length: int, seed: int) -> None:
    blocks = np.random.default_rng(seed).integers(0, 256, (rows, length), dtype=np.uint8)
    once = randomize(blocks)
    assert np.array_equal(randomize(once), blocks)
    if rows:
        assert np.array_equal(randomize(blocks[0]), once[0])  # (L,) keeps its shape


def test_input_is_not_modified_and_sequence_copies_are_writable() -> None:
    blocks = np.zeros(10, dtype=np.uint8)
    randomize(blocks)
    assert not blocks.any()
    sequence = randomizer_sequence(10)
    sequence[0] = 0  # a private copy, not the cached table
    assert randomizer_sequence(1)[0] == 0xFF


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2), dtype=np.uint8), np.zeros(4, dtype=np.int32)])
def test_bad_input_is_local_error(bad: np.ndarray) -> None:
    with pytest.raises(LocalProtocolError):
        randomize(bad)
    with pytest.raises(LocalProtocolError):
        randomizer_sequence(-1)

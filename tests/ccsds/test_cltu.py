"""CLTU and BCH(63,56) (CCSDS 231.0).

Vectors: the start sequence, tail and fill octet come from 231.0 §5.
The parity is checked against galois' GF(2) polynomial arithmetic, an independent
implementation of the division by g(x) = x^7 + x^6 + x^2 + 1.
"""

from __future__ import annotations

import galois
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.cltu import (
    CLTU_START,
    CLTU_TAIL,
    CltuDecoder,
    bch_correct,
    bch_parity,
    encode_cltu,
)
from lunar_hil.emulator.errors import LocalProtocolError

GF2 = galois.GF(2)
G = galois.Poly([1, 1, 0, 0, 0, 1, 0, 1], field=GF2)  # x^7 + x^6 + x^2 + 1 (231.0 §3.3)


def galois_parity_octet(block7: bytes) -> int:
    """Parity octet per 231.0 §3.3: remainder of m(x)·x^7 mod g(x), complemented, filler 0."""
    bits = np.unpackbits(np.frombuffer(block7, dtype=np.uint8)).tolist()
    message = galois.Poly(bits + [0] * 7, field=GF2)  # first transmitted bit = x^62
    rem = message % G
    coeffs = [int(c) for c in rem.coeffs]
    coeffs = [0] * (7 - len(coeffs)) + coeffs  # x^6 .. x^0
    value = 0
    for c in coeffs:
        value = value << 1 | (c ^ 1)
    return value << 1


def test_reference_constants() -> None:
    # 231.0 §5: start EB 90, tail C5 C5 C5 C5 C5 C5 C5 79.
    assert bytes.fromhex("EB90") == CLTU_START
    assert bytes.fromhex("C5C5C5C5C5C5C579") == CLTU_TAIL


def test_cltu_layout_start_blocks_fill_tail() -> None:
    frame = bytes(range(1, 11))  # 10 octets -> two codeblocks, the last with 4 fill octets
    cltu = encode_cltu(frame)
    assert cltu[:2] == CLTU_START
    assert cltu[-8:] == CLTU_TAIL
    body = cltu[2:-8]
    assert len(body) == 16
    assert body[0:7] == frame[:7]
    assert body[8:15] == frame[7:] + b"\x55" * 4  # fill octets 0x55 (231.0 §5.3)
    assert body[7] == galois_parity_octet(body[0:7])
    assert body[15] == galois_parity_octet(body[8:15])


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=7, max_size=7))
def test_parity_matches_galois(block: bytes) -> None:
    assert int(bch_parity(np.frombuffer(block, dtype=np.uint8))) == galois_parity_octet(block)


def test_batch_parity_shape_and_values() -> None:
    rng = np.random.default_rng(1)
    blocks = rng.integers(0, 256, (50, 7), dtype=np.uint8)
    parity = bch_parity(blocks)
    assert parity.shape == (50,)
    assert parity.tolist() == [galois_parity_octet(b.tobytes()) for b in blocks]
    assert np.all(parity & 1 == 0)  # filler bit is 0


def test_tail_is_rejected_as_a_codeblock() -> None:
    # 231.0 §5.3: the tail is built to fail BCH decoding, which ends the CLTU.
    _, status = bch_correct(np.frombuffer(CLTU_TAIL, dtype=np.uint8))
    assert int(status) == -1


def test_every_single_bit_error_is_corrected() -> None:
    data = np.frombuffer(b"lunar!!", dtype=np.uint8)
    block = np.concatenate([data, [bch_parity(data)]]).astype(np.uint8)
    corrupted = np.repeat(block[None, :], 64, axis=0)
    for bit in range(64):
        corrupted[bit, bit // 8] ^= 0x80 >> (bit % 8)
    out, status = bch_correct(corrupted)
    assert np.all(out == data)
    # Bits 0..62 are code bits (corrected); bit 63 is the filler, not checked.
    assert status[:63].tolist() == [1] * 63
    assert int(status[63]) == 0


def test_every_double_bit_error_is_detected() -> None:
    # g(x) has the factor (x + 1): d_min = 4, so two errors are never mis-corrected.
    data = np.frombuffer(b"\x00\x11\x22\x33\x44\x55\x66", dtype=np.uint8)
    block = np.concatenate([data, [bch_parity(data)]]).astype(np.uint8)
    pairs = [(a, b) for a in range(63) for b in range(a + 1, 63)]
    corrupted = np.repeat(block[None, :], len(pairs), axis=0)
    for row, (a, b) in enumerate(pairs):
        corrupted[row, a // 8] ^= 0x80 >> (a % 8)
        corrupted[row, b // 8] ^= 0x80 >> (b % 8)
    _, status = bch_correct(corrupted)
    assert np.all(status == -1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=80), min_size=1, max_size=4),
    st.binary(max_size=20),
    st.data(),
)
def test_round_trip_split_at_random_points(
    frames: list[bytes], noise: bytes, draw: st.DataObject
) -> None:
    noise = noise.replace(b"\xeb", b"\x00")  # noise must not contain a start sequence
    stream = b"".join(noise + encode_cltu(f) for f in frames) + noise
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    dec = CltuDecoder()
    out: list[bytes] = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += dec.feed(stream[a:b])
    assert len(out) == len(frames)
    for got, want in zip(out, frames, strict=True):
        pad = -len(want) % 7
        assert got == want + b"\x55" * pad
    assert dec.counters["cltus"] == len(frames)
    assert dec.counters["bch_corrected"] == 0
    assert dec.counters["bytes_skipped"] == len(noise) * (len(frames) + 1)


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=1, max_size=60), st.data())
def test_single_bit_error_per_codeblock_is_corrected_in_stream(
    frame: bytes, draw: st.DataObject
) -> None:
    cltu = bytearray(encode_cltu(frame))
    nblocks = (len(cltu) - 10) // 8
    for k in range(nblocks):
        bit = draw.draw(st.integers(0, 62))
        cltu[2 + 8 * k + bit // 8] ^= 0x80 >> (bit % 8)
    dec = CltuDecoder()
    (got,) = dec.feed(bytes(cltu))
    assert got[: len(frame)] == frame
    assert dec.counters["bch_corrected"] == nblocks


def test_uncorrectable_block_abandons_the_cltu() -> None:
    cltu = bytearray(encode_cltu(bytes(range(21))))  # three codeblocks
    cltu[2 + 8] ^= 0xC0  # two errors in the second codeblock
    dec = CltuDecoder()
    out = dec.feed(bytes(cltu))
    assert out == [bytes(range(7))]  # the accepted first codeblock is passed on
    assert dec.counters["cltus_abandoned"] == 1
    assert dec.counters["codeblocks_rejected"] == 1
    # The rest of the abandoned CLTU is searched as noise; the next CLTU is found.
    assert dec.feed(encode_cltu(b"next")) == [b"next" + b"\x55" * 3]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_raises(data: bytes) -> None:
    dec = CltuDecoder()
    out = dec.feed(data)
    assert all(isinstance(x, bytes) and len(x) % 7 == 0 for x in out)


def test_misuse() -> None:
    with pytest.raises(LocalProtocolError):
        encode_cltu(b"")
    with pytest.raises(LocalProtocolError):
        bch_parity(np.zeros((3, 6), dtype=np.uint8))
    with pytest.raises(LocalProtocolError):
        bch_parity([300, 0, 0, 0, 0, 0, 0])

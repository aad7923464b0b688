"""Tests of emulator.ccsds.rs against independent references.

References used here (none computed with the code under test):
- libfec's published dual-basis parity of data 0,1,...,222.
- Debian's libfec through ctypes (emulator.reference.libfec_rs): Phil Karn's C codec,
  dual basis (encode_rs_ccsds/decode_rs_ccsds) and conventional (encode_rs_8/decode_rs_8).
- galois (mhostetter/galois): GF(2^8) with irreducible polynomial 0x187, primitive
  element x, ReedSolomon(255, 223, alpha=x^11, c=112), conventional basis: it
  represents the CCSDS code directly (generator polynomial and encoder checked).
- The interleaving rule of CCSDS 131.0-B §4.3 (symbol of codeword j at position k
  is byte j + k*I), written out below with plain Python loops.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.rs import (
    _CHUNK,
    RS_K,
    RS_N,
    RS_PARITY,
    VALID_INTERLEAVES,
    rs_codeblock_length,
    rs_data_length,
    rs_decode_batch,
    rs_encode_batch,
)
from lunar_hil.emulator.errors import LocalProtocolError
from lunar_hil.emulator.reference import libfec_rs

U8 = npt.NDArray[np.uint8]

# 131.0 §4 RS(255,223) E=16: libfec, dual basis, data 0..222.
REFERENCE_PARITY = bytes.fromhex("4ffb92dd557ec67f27fb8982cf58f8fd028ad117fcef6b2793d0418826578651")


def test_libfec_is_installed() -> None:
    # The cross-checks below need it; the project's environment ships Debian's libfec0.
    assert libfec_rs.available()


def test_reference_vector_reference_md() -> None:
    data = bytes(range(223))
    block = rs_encode_batch(data)
    assert block.shape == (255,)
    assert block[:223].tobytes() == data
    assert block[223:].tobytes() == REFERENCE_PARITY
    # and the libfec wrapper agrees with that vector too
    assert libfec_rs.encode_rs_ccsds(data) == REFERENCE_PARITY


def test_reference_vector_decodes_clean() -> None:
    block = np.frombuffer(bytes(range(223)) + REFERENCE_PARITY, dtype=np.uint8)
    res = rs_decode_batch(block)
    assert res.data.tobytes() == bytes(range(223))
    assert res.corrected.tolist() == [0]
    assert res.corrected_symbols == 0 and res.uncorrectable == 0 and bool(res.ok)


def test_basis_tables_match_libfec() -> None:
    # The dual-basis matrix of CCSDS 131.0-B Annex F against libfec's Taltab/Tal1tab.
    from lunar_hil.emulator.ccsds.rs import _field

    f = _field()
    assert np.array_equal(f.to_dual, libfec_rs.taltab())
    assert np.array_equal(f.to_conv, libfec_rs.tal1tab())


def test_lengths() -> None:
    assert rs_data_length(1) == 223 and rs_codeblock_length(1) == 255
    assert rs_data_length(5) == 1115 and rs_codeblock_length(5) == 1275
    assert rs_data_length(4, 10) == 852 and rs_codeblock_length(4, 10) == 980


# --------------------------------------------------------------------------- libfec encoder


def test_encoder_matches_libfec_many_random() -> None:
    rng = np.random.default_rng(1)
    # One full chunk (per-position loop) and a small tail chunk (single gather),
    # so both kernels meet the reference.
    data = rng.integers(0, 256, (_CHUNK + 100, RS_K), dtype=np.uint8)
    ours = rs_encode_batch(data)
    assert np.array_equal(ours[:, :RS_K], data)
    assert np.array_equal(ours[:, RS_K:], libfec_rs.encode_many(data))


@pytest.mark.parametrize("pad", [1, 10, 33, 100, 190, 222])
def test_encoder_matches_libfec_virtual_fill(pad: int) -> None:
    rng = np.random.default_rng(pad)
    data = rng.integers(0, 256, (300, RS_K - pad), dtype=np.uint8)
    ours = rs_encode_batch(data)
    assert np.array_equal(ours[:, RS_K - pad :], libfec_rs.encode_many(data))
    for row in data[:20]:
        assert rs_encode_batch(row)[RS_K - pad :].tobytes() == libfec_rs.encode_rs_ccsds(
            row.tobytes(), pad
        )


def test_conventional_basis_matches_libfec_rs8() -> None:
    rng = np.random.default_rng(7)
    data = rng.integers(0, 256, (200, RS_K), dtype=np.uint8)
    ours = rs_encode_batch(data, dual_basis=False)
    for row, block in zip(data, ours, strict=True):
        assert block[RS_K:].tobytes() == libfec_rs.encode_rs_8(row.tobytes())


def _interleave_with_libfec(data: U8, interleave: int, pad: int) -> U8:
    """Build codeblocks per §4.3 with libfec parity and explicit loops (independent)."""
    k = RS_K - pad
    out = np.zeros((data.shape[0], (RS_N - pad) * interleave), dtype=np.uint8)
    for b, row in enumerate(data):
        for j in range(interleave):
            word = bytes(row[j::interleave])  # symbols k of codeword j are bytes j + k*I
            assert len(word) == k
            full = word + libfec_rs.encode_rs_ccsds(word, pad)
            for pos, sym in enumerate(full):
                out[b, j + pos * interleave] = sym
    return out


@pytest.mark.parametrize("interleave", VALID_INTERLEAVES)
@pytest.mark.parametrize("pad", [0, 17])
def test_interleaved_encoder_matches_libfec(interleave: int, pad: int) -> None:
    rng = np.random.default_rng(100 * interleave + pad)
    data = rng.integers(0, 256, (12, (RS_K - pad) * interleave), dtype=np.uint8)
    expected = _interleave_with_libfec(data, interleave, pad)
    assert np.array_equal(rs_encode_batch(data, interleave), expected)
    # one codeblock in -> one codeblock out (the caller's shape)
    assert np.array_equal(rs_encode_batch(data[3], interleave), expected[3])


# --------------------------------------------------------------------------- libfec decoder


def _add_errors(
    rng: np.random.Generator, blocks: U8, counts: npt.NDArray[np.int64], width: int
) -> U8:
    """Flip `counts[i]` distinct random symbols of row i to other random values."""
    out = blocks.copy()
    for i, c in enumerate(counts):
        pos = rng.choice(width, size=int(c), replace=False)
        out[i, pos] ^= rng.integers(1, 256, size=int(c), dtype=np.uint8)
    return out


@pytest.mark.parametrize("pad", [0, 50])
def test_decoder_agrees_with_libfec_both_directions(pad: int) -> None:
    rng = np.random.default_rng(11 + pad)
    n = _CHUNK + 200  # a full chunk and a small tail chunk (see the encoder test)
    k, width = RS_K - pad, RS_N - pad
    data = rng.integers(0, 256, (n, k), dtype=np.uint8)
    # libfec-encoded codewords, decoded by us
    fec_blocks = np.concatenate([data, libfec_rs.encode_many(data)], axis=1)
    counts = rng.integers(0, 21, size=n)  # 0..20: includes beyond-capacity words
    noisy = _add_errors(rng, fec_blocks, counts, width)
    ours = rs_decode_batch(noisy)
    fixable = counts <= 16
    assert np.array_equal(ours.corrected[fixable, 0], counts[fixable])
    assert np.array_equal(ours.data[fixable], data[fixable])
    # libfec decodes the same noisy words: same verdicts and counts everywhere
    for i in range(n):
        ret, fixed = libfec_rs.decode_rs_ccsds(noisy[i].tobytes(), pad)
        assert ours.corrected[i, 0] == ret, (i, counts[i])
        if ret >= 0:
            assert ours.data[i].tobytes() == fixed[:k]
        else:
            assert np.array_equal(ours.data[i], noisy[i, :k])
    # our codewords, decoded by libfec
    our_blocks = rs_encode_batch(data)
    noisy2 = _add_errors(rng, our_blocks, np.minimum(counts, 16), width)
    for i in range(0, n, 4):
        ret, fixed = libfec_rs.decode_rs_ccsds(noisy2[i].tobytes(), pad)
        assert ret == min(int(counts[i]), 16)
        assert fixed == our_blocks[i].tobytes()


@pytest.mark.parametrize("n_fill_errors", [1, 2, 9])
def test_errors_located_in_virtual_fill_are_uncorrectable(n_fill_errors: int) -> None:
    # A full-length libfec codeword whose nonzero symbols include some of the first
    # `pad` positions, sent shortened: to the decoder those symbols are errors in
    # the virtual fill, which is known to be zero, so the word must be rejected
    # (never "corrected" by touching fill positions), as libfec does.
    rng = np.random.default_rng(n_fill_errors)
    pad = 50
    for _ in range(40):
        data = bytearray(rng.integers(0, 256, RS_K, dtype=np.uint8).tobytes())
        data[:pad] = bytes(pad)
        for p in rng.choice(pad, size=n_fill_errors, replace=False):
            data[p] = int(rng.integers(1, 256))
        short = (bytes(data) + libfec_rs.encode_rs_ccsds(bytes(data)))[pad:]
        res = rs_decode_batch(np.frombuffer(short, dtype=np.uint8))
        assert int(res.corrected[0]) == -1
        assert res.data.tobytes() == short[: RS_K - pad]
        assert libfec_rs.decode_rs_ccsds(short, pad)[0] == -1


@pytest.mark.parametrize("interleave", VALID_INTERLEAVES)
def test_interleaved_decoder_corrects_libfec_codeblocks(interleave: int) -> None:
    rng = np.random.default_rng(interleave)
    pad = 5 * interleave
    data = rng.integers(0, 256, (10, (RS_K - pad) * interleave), dtype=np.uint8)
    blocks = _interleave_with_libfec(data, interleave, pad)
    width = (RS_N - pad) * interleave
    noisy = blocks.copy()
    expected = np.zeros((10, interleave), dtype=np.int64)
    for b in range(10):
        for j in range(interleave):
            # codeword 0 of block 0 gets 17 errors: uncorrectable (or, rarely, detected)
            c = 17 if (b, j) == (0, 0) else int(rng.integers(0, 17))
            pos = rng.choice(RS_N - pad, size=c, replace=False)
            noisy[b, j + pos * interleave] ^= rng.integers(1, 256, size=c, dtype=np.uint8)
            expected[b, j] = c
    assert noisy.shape[1] == width
    res = rs_decode_batch(noisy, interleave)
    assert res.corrected.shape == (10, interleave)
    assert res.corrected[0, 0] == -1  # libfec agrees below
    assert libfec_rs.decode_rs_ccsds(bytes(noisy[0, 0::interleave]), pad)[0] == -1
    assert np.array_equal(res.corrected[1:], expected[1:])
    assert np.array_equal(res.data[1:], data[1:])
    assert res.ok.tolist() == [False] + [True] * 9
    assert res.uncorrectable == 1
    assert res.corrected_symbols == int(expected[1:].sum() + expected[0, 1:].sum())
    # the uncorrectable codeword's bytes are left as received, the others corrected
    k_total = (RS_K - pad) * interleave
    assert np.array_equal(res.data[0, 0::interleave], noisy[0, :k_total:interleave])
    for j in range(1, interleave):
        assert np.array_equal(res.data[0, j::interleave], data[0, j::interleave])


# --------------------------------------------------------------------------- galois


@pytest.fixture(scope="module")
def galois_code():  # type: ignore[no-untyped-def]
    import galois

    gf = galois.GF(2**8, irreducible_poly=0x187, primitive_element=2)
    # CCSDS 131.0-B §4.2.2: roots β^j, j = 112..143, β = α^11, α = x.
    return galois.ReedSolomon(255, 223, field=gf, alpha=gf(2) ** 11, c=112)


def test_generator_polynomial_matches_galois(galois_code) -> None:  # type: ignore[no-untyped-def]
    from lunar_hil.emulator.ccsds.rs import _generator

    expected = np.asarray(galois_code.generator_poly.coeffs, dtype=np.uint8)
    assert np.array_equal(_generator(), expected)


@pytest.mark.parametrize("pad", [0, 30])
def test_conventional_basis_encoder_matches_galois(galois_code, pad: int) -> None:  # type: ignore[no-untyped-def]
    # galois encodes shortened codes when given fewer than k message symbols.
    gf = galois_code.field
    rng = np.random.default_rng(3 + pad)
    data = rng.integers(0, 256, (100, RS_K - pad), dtype=np.uint8)
    expected = np.asarray(galois_code.encode(gf(data)), dtype=np.uint8)
    assert np.array_equal(rs_encode_batch(data, dual_basis=False), expected)


@pytest.mark.parametrize("pad", [0, 30])
def test_conventional_basis_decoder_agrees_with_libfec_rs8(pad: int) -> None:
    # (galois' decoder would need several more seconds of JIT; libfec's decode_rs_8
    # is the same conventional-basis check in C.)
    rng = np.random.default_rng(5 + pad)
    data = rng.integers(0, 256, (300, RS_K - pad), dtype=np.uint8)
    blocks = rs_encode_batch(data, dual_basis=False)
    counts = rng.integers(0, 19, size=300)
    noisy = _add_errors(rng, blocks, counts, RS_N - pad)
    res = rs_decode_batch(noisy, dual_basis=False)
    for i in range(300):
        ret, fixed = libfec_rs.decode_rs_8(noisy[i].tobytes(), pad)
        assert res.corrected[i, 0] == ret
        if ret >= 0:
            assert res.data[i].tobytes() == fixed[: RS_K - pad] == data[i].tobytes()


# --------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    interleave=st.sampled_from(VALID_INTERLEAVES),
    pad=st.integers(0, 200),
    n_errors=st.integers(0, 16),
    dual=st.booleans(),
)
def test_up_to_16_errors_always_corrected(
    seed: int, interleave: int, pad: int, n_errors: int, dual: bool
) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (3, (RS_K - pad) * interleave), dtype=np.uint8)
    blocks = rs_encode_batch(data, interleave, dual_basis=dual)
    noisy = blocks.copy()
    for b in range(3):
        for j in range(interleave):
            pos = rng.choice(RS_N - pad, size=n_errors, replace=False)
            noisy[b, j + pos * interleave] ^= rng.integers(1, 256, n_errors, dtype=np.uint8)
    res = rs_decode_batch(noisy, interleave, dual_basis=dual)
    assert np.array_equal(res.data, data)
    assert np.all(res.corrected == n_errors)
    assert res.corrected_symbols == 3 * interleave * n_errors
    assert bool(res.ok.all())


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pad=st.sampled_from([0, 100]))
def test_beyond_capacity_never_silently_miscorrected(seed: int, pad: int) -> None:
    # 17..40 errors per codeword over 2,000 codewords per example (10,000 in all).
    rng = np.random.default_rng(seed)
    n = 2000
    data = rng.integers(0, 256, (n, RS_K - pad), dtype=np.uint8)
    blocks = rs_encode_batch(data)
    noisy = _add_errors(rng, blocks, rng.integers(17, 41, size=n), RS_N - pad)
    res = rs_decode_batch(noisy)
    failed = res.corrected[:, 0] == -1
    # Either reported uncorrectable (bytes as received) or decoded to a real codeword:
    # a decoded result must re-encode to a codeword within 16 symbols of the input.
    assert np.array_equal(res.data[failed], noisy[failed, : RS_K - pad])
    if (~failed).any():
        again = rs_encode_batch(res.data[~failed])
        dist = np.count_nonzero(again != noisy[~failed], axis=1)
        assert np.all(dist <= 16)
        assert np.array_equal(dist, res.corrected[~failed, 0])
    # with >= 17 random errors a decoding to the original data is impossible
    assert not np.any(np.all(res.data[~failed] == data[~failed], axis=1))


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=255, max_size=255))
def test_any_bytes_decode_to_a_verdict(raw: bytes) -> None:
    # Garbage is link noise: a count or -1, never an exception; libfec agrees.
    res = rs_decode_batch(raw)
    ret, fixed = libfec_rs.decode_rs_ccsds(raw)
    assert int(res.corrected[0]) == ret
    if ret >= 0:
        assert res.data.tobytes() == fixed[:RS_K]


# --------------------------------------------------------------------------- misuse


@pytest.mark.parametrize(
    ("data", "interleave"),
    [
        (np.zeros((2, 223), np.uint8), 6),
        (np.zeros((2, 223), np.uint8), 0),
        (np.zeros((2, 225), np.uint8), 2),  # not a multiple of I
        (np.zeros((2, 224), np.uint8), 1),  # longer than 223
        (np.zeros((2, 0), np.uint8), 1),  # empty codeword
        (np.zeros((2, 2, 223), np.uint8), 1),  # 3-D
        (np.zeros((2, 223), np.float64), 1),  # not bytes
        (np.full((2, 223), 256, np.int64), 1),  # out of byte range
    ],
)
def test_encode_misuse_raises_local_protocol_error(data: U8, interleave: int) -> None:
    with pytest.raises(LocalProtocolError):
        rs_encode_batch(data, interleave)


@pytest.mark.parametrize(
    ("blocks", "interleave"),
    [
        (np.zeros((2, 255), np.uint8), 7),
        (np.zeros((2, 256), np.uint8), 1),
        (np.zeros((2, 32), np.uint8), 1),  # parity only: no data symbols
        (np.zeros((2, 511), np.uint8), 2),
        (np.zeros((1, 2, 255), np.uint8), 1),
    ],
)
def test_decode_misuse_raises_local_protocol_error(blocks: U8, interleave: int) -> None:
    with pytest.raises(LocalProtocolError):
        rs_decode_batch(blocks, interleave)


def test_length_helpers_reject_bad_arguments() -> None:
    with pytest.raises(LocalProtocolError):
        rs_data_length(6)
    with pytest.raises(LocalProtocolError):
        rs_codeblock_length(1, 223)


def test_parity_constants() -> None:
    assert (RS_N, RS_K, RS_PARITY) == (255, 223, 32)

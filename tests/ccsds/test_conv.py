"""Convolutional code r=1/2 K=7 (CCSDS 131.0 §3) and the Viterbi decoder.

Independent checks: a bit-by-bit encoder written here straight from the octal
polynomials of 131.0 §3.3 (G1 = 171, G2 = 133, G2 inverted, G1 symbol first), and
Debian libfec's viterbi27 decoder (C, through ctypes).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.conv import (
    ConvolutionalEncoder,
    ViterbiDecoder,
    conv_encode,
    viterbi_decode,
)
from lunar_hil.emulator.errors import LocalProtocolError
from lunar_hil.emulator.reference.libfec_viterbi import libfec_viterbi27_decode

G1_OCTAL = 0o171
G2_OCTAL = 0o133


def reference_encode(data: bytes, register: int = 0) -> bytes:
    """Textbook shift register: bit 6 of the 7-bit register is the current input.

    The octal generator's MSB is the tap on the current input (131.0 figure 3-1), so
    each output is the parity of (register & generator).
    """
    out_bits: list[int] = []
    for byte in data:
        for i in range(7, -1, -1):
            register = (register >> 1) | (((byte >> i) & 1) << 6)
            out_bits.append(bin(register & G1_OCTAL).count("1") & 1)
            out_bits.append((bin(register & G2_OCTAL).count("1") & 1) ^ 1)
    out = bytearray()
    for k in range(0, len(out_bits), 8):
        value = 0
        for bit in out_bits[k : k + 8]:
            value = value << 1 | bit
        out.append(value)
    return bytes(out)


def test_all_zero_input_gives_alternating_symbols() -> None:
    # G1 of zeros is 0 and inverted G2 is 1: the channel sees 0101... (131.0 §3.3).
    assert conv_encode(bytes(8)).tobytes() == b"\x55" * 16


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=0, max_size=64))
def test_encoder_matches_bit_by_bit_reference(data: bytes) -> None:
    assert conv_encode(data).tobytes() == reference_encode(data)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=20), max_size=6))
def test_streaming_encoder_keeps_register_across_calls(chunks: list[bytes]) -> None:
    enc = ConvolutionalEncoder()
    streamed = b"".join(enc.encode(c).tobytes() for c in chunks)
    assert streamed == reference_encode(b"".join(chunks))


def test_batch_rows_are_encoded_independently() -> None:
    rng = np.random.default_rng(7)
    batch = rng.integers(0, 256, (5, 33), dtype=np.uint8)
    out = conv_encode(batch)
    assert out.shape == (5, 66)
    for row, coded in zip(batch, out, strict=True):
        assert coded.tobytes() == reference_encode(row.tobytes())


def test_encoder_state_argument_is_the_previous_bits() -> None:
    # Encoding b"\x3f" (ends in six ones) then data == encoding data from state 0b111111.
    data = bytes(range(40))
    joined = reference_encode(b"\x3f" + data)[2:]
    assert conv_encode(data, state=0b111111).tobytes() == joined


def test_misuse_raises_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError):
        conv_encode(b"x", state=64)
    with pytest.raises(LocalProtocolError):
        conv_encode(np.zeros(4, dtype=np.int32))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        conv_encode(np.zeros((2, 2, 2), dtype=np.uint8))


@settings(max_examples=15, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_libfec_decodes_our_encoder_output(data: bytes) -> None:
    # Six zero tail bits (a whole zero octet) terminate the trellis for libfec.
    coded = conv_encode(data + b"\x00")
    soft = np.unpackbits(coded) * np.uint8(255)
    assert libfec_viterbi27_decode(soft, 8 * len(data)).tobytes() == data


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=1, max_size=600), st.data())
def test_round_trip_streamed_in_random_chunks(data: bytes, draw: st.DataObject) -> None:
    coded = conv_encode(data).tobytes()
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(coded)), max_size=5)))
    dec = ViterbiDecoder()
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(coded)], strict=True):
        out.append(dec.decode(coded[a:b]).tobytes())
    out.append(dec.flush().tobytes())
    assert b"".join(out) == data


def test_one_shot_helper_round_trip_long_stream() -> None:
    # Long enough to use many parallel segments (segment boundaries must be seamless).
    data = np.random.default_rng(3).integers(0, 256, 20_000, dtype=np.uint8)
    assert np.array_equal(viterbi_decode(conv_encode(data)), data)


def test_sparse_bit_errors_are_corrected() -> None:
    rng = np.random.default_rng(11)
    data = rng.integers(0, 256, 6000, dtype=np.uint8)
    bits = np.unpackbits(conv_encode(data))
    # One error every 30..60 channel symbols, far below d_free = 10 per window.
    positions = np.cumsum(rng.integers(30, 60, bits.size // 30))
    positions = positions[positions < bits.size - 200]
    bits[positions] ^= 1
    assert positions.size > 500
    assert np.array_equal(viterbi_decode(np.packbits(bits)), data)


@settings(max_examples=20, deadline=None)
@given(st.binary(min_size=16, max_size=300), st.integers(0, 2**32 - 1))
def test_four_errors_at_least_40_symbols_apart_are_corrected(data: bytes, seed: int) -> None:
    # d_free = 10 for this code: isolated symbol errors 40 symbols apart never win.
    bits = np.unpackbits(conv_encode(data))
    rng = np.random.default_rng(seed)
    gap = bits.size // 4
    for k in range(4):
        bits[k * gap + int(rng.integers(0, max(1, gap - 40)))] ^= 1
    assert viterbi_decode(np.packbits(bits)).tobytes() == data


def _noisy_soft(coded: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clean = np.unpackbits(coded).astype(np.float64) * 255.0
    return np.clip(np.rint(clean + rng.normal(0.0, sigma, clean.size)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("sigma", "seed"), [(70.0, 1), (95.0, 2), (110.0, 3)])
def test_soft_decisions_agree_with_libfec_on_noisy_streams(sigma: float, seed: int) -> None:
    data = np.random.default_rng(seed).integers(0, 256, 3000, dtype=np.uint8)
    soft = _noisy_soft(conv_encode(np.concatenate([data, np.zeros(1, np.uint8)])), sigma, seed)
    theirs = libfec_viterbi27_decode(soft, 8 * data.size)
    dec = ViterbiDecoder()
    ours = np.concatenate([dec.decode_soft(soft), dec.flush()])[: data.size]
    # Both are maximum-likelihood decoders with the same metric up to scaling; only
    # ties and our finite traceback (vs libfec's full block) may separate them.
    disagree = int(np.unpackbits(ours ^ theirs).sum())
    our_errors = int(np.unpackbits(ours ^ data).sum())
    their_errors = int(np.unpackbits(theirs ^ data).sum())
    assert disagree <= max(8, their_errors // 10)
    assert our_errors <= their_errors + 8
    # The channel really was noisy: hundreds of raw hard-decision symbol errors.
    hard_errors = int(((soft[: 16 * data.size] > 127) != np.unpackbits(conv_encode(data))).sum())
    assert hard_errors > 100


def test_hard_decisions_agree_with_libfec() -> None:
    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, 3000, dtype=np.uint8)
    bits = np.unpackbits(conv_encode(np.concatenate([data, np.zeros(1, np.uint8)])))
    bits ^= (rng.random(bits.size) < 0.04).astype(np.uint8)
    theirs = libfec_viterbi27_decode(bits * np.uint8(255), 8 * data.size)
    ours = viterbi_decode(np.packbits(bits))[: data.size]
    disagree = int(np.unpackbits(ours ^ theirs).sum())
    assert disagree <= max(8, int(np.unpackbits(theirs ^ data).sum()) // 10)


def test_joining_mid_stream_with_unknown_start_state() -> None:
    data = np.random.default_rng(9).integers(0, 256, 500, dtype=np.uint8)
    coded = conv_encode(data)
    dec = ViterbiDecoder(start_state=None)
    # Skip 10 data octets = 20 symbol octets; the encoder state there is unknown.
    out = np.concatenate([dec.decode(coded[20:]), dec.flush()])
    assert np.array_equal(out, data[10:])


def test_decoder_misuse() -> None:
    with pytest.raises(LocalProtocolError):
        ViterbiDecoder(traceback=3)
    with pytest.raises(LocalProtocolError):
        ViterbiDecoder(start_state=99)
    with pytest.raises(LocalProtocolError):
        ViterbiDecoder().decode_soft(np.zeros(4, dtype=np.float32))  # type: ignore[arg-type]


def test_batch_decode_rows_independently() -> None:
    rng = np.random.default_rng(21)
    data = rng.integers(0, 256, (12, 223), dtype=np.uint8)
    bits = np.unpackbits(conv_encode(data), axis=1)
    bits ^= (rng.random(bits.shape) < 0.02).astype(np.uint8)
    noisy = np.packbits(bits, axis=1)
    out = viterbi_decode(noisy)
    assert out.shape == (12, 223)
    # Same answer as decoding every row as its own stream...
    assert np.array_equal(out, np.stack([viterbi_decode(row) for row in noisy]))
    # ...and the 2 % raw errors are (almost all) corrected.
    assert int(np.unpackbits(out ^ data).sum()) < 0.002 * data.size * 8


@settings(max_examples=20, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.data())
def test_soft_stream_in_odd_sized_chunks(data: bytes, draw: st.DataObject) -> None:
    soft = np.unpackbits(conv_encode(data)) * np.uint8(255)
    cuts = sorted(draw.draw(st.lists(st.integers(0, soft.size), max_size=6)))
    dec = ViterbiDecoder()
    out = [dec.decode_soft(soft[a:b]) for a, b in zip([0, *cuts], [*cuts, soft.size], strict=True)]
    out.append(dec.flush())
    assert np.concatenate(out).tobytes() == data

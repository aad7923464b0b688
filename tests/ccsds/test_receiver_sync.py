"""Issue 8: node (symbol-pair) sync and phase ambiguity in the receiver.

A bit-level source may join a convolutionally coded stream at any bit, so on
either symbol of a (G1, G2) pair, and a BPSK receiver may hand over every bit
inverted. The expected CADU counts are worked out from the cut position and the
CADU length; the frames are compared byte for byte with an uncut decode.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.coding import ChannelEncoder, encode_cadus
from lunar_hil.emulator.ccsds.conv import ViterbiDecoder, conv_encode
from tests.ccsds.test_receiver import TM_CONV, TM_RS5, decode_all, make_frames

N_CONV = 12
CODED_CADU_BITS = TM_CONV.cadu_length * 8 * 2  # r=1/2: two symbols per CADU bit


@pytest.fixture(scope="module")
def conv_stream() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames, uncut decode, unpacked coded bits) of a 12-CADU convolutional stream."""
    frames, _ = make_frames(TM_CONV, N_CONV, seed=8)
    stream = ChannelEncoder(TM_CONV).encode(frames)
    whole, _, c = decode_all(TM_CONV, stream)
    assert c.frames_ok == N_CONV and np.array_equal(whole, frames)
    assert c.viterbi_realignments == 0
    return frames, whole, np.unpackbits(np.frombuffer(stream, np.uint8))


def cut(bits: np.ndarray, drop: int, *, invert: bool = False) -> bytes:
    """The coded stream without its first ``drop`` bits (symbols), repacked."""
    rest = bits[drop:]
    if invert:
        rest = rest ^ 1
    return np.packbits(rest).tobytes()


def complete_after(drop: int) -> int:
    """CADUs whose coded symbols all lie after the cut: CADU k starts at symbol
    k * CODED_CADU_BITS, so the first ceil(drop / CODED_CADU_BITS) are cut."""
    return N_CONV - -(-drop // CODED_CADU_BITS)


def check_cut(conv_stream, drop: int, *, invert: bool = False,
              splits: list[int] | None = None) -> None:
    _, whole, bits = conv_stream
    got, _, c = decode_all(TM_CONV, cut(bits, drop, invert=invert), splits)
    n = complete_after(drop)
    assert c.frames_ok == c.cadus == n
    assert np.array_equal(got, whole[N_CONV - n:])
    assert c.rs_uncorrectable == c.crc_errors == 0
    assert c.sync_acquisitions == 1 and c.inverted_acquisitions == int(invert)
    # An odd cut starts on the G2 symbol of a pair: the trial picks the other pairing.
    assert c.viterbi_realignments == drop % 2


@pytest.mark.parametrize("drop", [1, 3, 5, 7, 9, 15, 17, 8 * 1001 + 3,
                                  CODED_CADU_BITS - 1, CODED_CADU_BITS + 1])
def test_conv_stream_cut_on_an_odd_symbol_decodes_every_complete_cadu(conv_stream, drop):
    # drop 1: 11 complete CADUs (the first lost its first symbol);
    # drop CODED_CADU_BITS + 1: 10.
    check_cut(conv_stream, drop)


def test_conv_stream_cut_on_even_bits_still_decodes(conv_stream):
    for drop in (2, 4, 8, 8 * 7, CODED_CADU_BITS):
        check_cut(conv_stream, drop)


def test_hand_counts():
    assert complete_after(1) == complete_after(CODED_CADU_BITS) == N_CONV - 1
    assert complete_after(CODED_CADU_BITS + 1) == N_CONV - 2


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(drop=st.integers(0, 3 * CODED_CADU_BITS), invert=st.booleans(),
       splits=st.lists(st.integers(0, N_CONV * TM_CONV.cadu_length * 2), max_size=6))
def test_conv_stream_cut_at_any_bit_any_polarity_any_split(conv_stream, drop, invert, splits):
    size = (N_CONV * CODED_CADU_BITS - drop + 7) // 8
    check_cut(conv_stream, drop, invert=invert, splits=[s for s in splits if s <= size])


def test_inverted_stream_decodes_inverted_data():
    """G1 and G2 have five taps each: complementing every channel symbol (G2
    inversion included) is the code word of the complemented data."""
    data = np.random.default_rng(4).integers(0, 256, 300, dtype=np.uint8)
    dec = ViterbiDecoder(start_state=None)  # state 0 complemented is 63: start unknown
    sym = conv_encode(data) ^ 0xFF
    out = np.concatenate([dec.decode(sym), dec.flush()])
    assert np.array_equal(out, data ^ 0xFF)


def test_skip_symbols_and_padded_flush():
    data = np.random.default_rng(5).integers(0, 256, 200, dtype=np.uint8)
    bits = np.unpackbits(conv_encode(data))
    # A G2 symbol in front: skipping it gives the plain stream back.
    dec = ViterbiDecoder(skip_symbols=1)
    shifted = np.packbits(np.concatenate([[1], bits]))
    out = np.concatenate([dec.decode(shifted[:7]), dec.decode(shifted[7:]), dec.flush()])
    assert np.array_equal(out, data)
    # 6 pairs missing at the start: 1594 data bits, the last two in a padded byte.
    dec = ViterbiDecoder(start_state=None)
    out = np.concatenate([dec.decode(np.packbits(bits[12:])), dec.flush(pad=True)])
    want = np.unpackbits(data)[6:]
    assert np.array_equal(np.unpackbits(out)[: want.size], want)
    assert out.size == -(-want.size // 8)


def test_rs_band_inverted_at_a_bit_offset_decodes_every_frame():
    frames, _ = make_frames(TM_RS5, 10, seed=2)
    bits = np.unpackbits(encode_cadus(frames, TM_RS5).reshape(-1))
    stream = np.packbits(np.concatenate([[0, 1, 1], bits ^ 1])).tobytes()
    got, _, c = decode_all(TM_RS5, stream)
    assert np.array_equal(got, frames)
    assert c.sync_acquisitions == c.inverted_acquisitions == 1


def test_symbol_slip_mid_stream_realigns_the_pairs():
    """A symbol lost in CADU 20 of 60 (fed 1000 bytes at a time, as a socket
    would): lock is lost, the next trial flips the pairing and the rest decodes."""
    frames, _ = make_frames(TM_CONV, 60, seed=9)
    bits = np.unpackbits(np.frombuffer(ChannelEncoder(TM_CONV).encode(frames), np.uint8))
    stream = np.packbits(np.delete(bits, 20 * CODED_CADU_BITS + 501)).tobytes()
    got, _, c = decode_all(TM_CONV, stream, list(range(1000, len(stream), 1000)))
    assert c.viterbi_realignments == 1 and c.sync_losses == 1 and c.sync_acquisitions == 2
    good = [bytes(f) for f in got]
    want = [bytes(f) for f in frames]
    assert good[:20] == want[:20]
    # CADU 20 holds the slip; lock comes back within a few CADUs and stays.
    tail = good[20:]
    assert len(tail) >= 60 - 20 - 6
    assert tail == want[60 - len(tail):]


def test_noise_on_a_conv_band_does_not_lock_and_trials_back_off():
    noise = np.random.default_rng(12).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    _, _, c = decode_all(TM_CONV, noise, list(range(4096, len(noise), 4096)))
    assert c.sync_acquisitions == 0 and c.frames_ok == 0
    # 100 kB decoded: first trial, then one after 4, 8, 16, ... CADUs skipped.
    assert 2 <= c.viterbi_alignment_trials <= 8


@pytest.mark.parametrize("drop", [1, 3, 6])
def test_noisy_conv_stream_cut_on_any_symbol_decodes(conv_stream, drop):
    """2 % of the channel symbols flipped (near the hard-decision Viterbi's working
    limit): the trial still picks the pairing (~0.02 vs ~0.125 disagreement)."""
    _, whole, bits = conv_stream
    rng = np.random.default_rng(drop)
    noisy = bits[drop:] ^ (rng.random(bits.size - drop) < 0.02).astype(np.uint8)
    got, _, c = decode_all(TM_CONV, np.packbits(noisy).tobytes())
    n = complete_after(drop)
    assert c.frames_ok == n and c.rs_uncorrectable == 0
    assert np.array_equal(got, whole[N_CONV - n:])
    assert c.viterbi_realignments == drop % 2


def test_noise_between_cadus_keeps_the_pairing(conv_stream):
    """50 kB of noise in whole bytes inside the coded stream (a dropout the radio
    filled with noise): the pairing does not change, trials over noise keep it, and
    every CADU not touched by the noise decodes."""
    _, whole, bits = conv_stream
    coded = np.packbits(bits)
    at = 5 * CODED_CADU_BITS // 8 + 100  # inside CADU 5
    noise = np.random.default_rng(3).integers(0, 256, 50_000, dtype=np.uint8)
    stream = np.concatenate([coded[:at], noise, coded[at:]]).tobytes()
    got, _, c = decode_all(TM_CONV, stream, list(range(1000, len(stream), 1000)))
    assert c.viterbi_realignments == 0 and c.viterbi_alignment_trials >= 3
    # CADU 5 is cut by the noise; the rest decodes once lock is back.
    good = [bytes(f) for f in got]
    assert good[:5] == [bytes(f) for f in whole[:5]]
    assert good[5:] == [bytes(f) for f in whole[N_CONV - len(good) + 5:]]
    assert len(good) == N_CONV - 1

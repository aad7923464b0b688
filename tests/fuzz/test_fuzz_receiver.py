"""Fuzzing the ground receiver (``Receiver.feed``/``flush``): random bytes and
mutated valid channel streams never raise, and the counters account for every
complete CADU that was cut out of the stream (no silent loss)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds import ChannelCoding, Receiver

from .strategies import CODINGS, FUZZ, mutated, real_run, splits, valid_stream


def _run(coding: ChannelCoding, chunks: list[bytes],
         **options: int) -> tuple[Receiver, int, list[bytes]]:
    """Feed every chunk, flush; return the receiver, frames out and packets out."""
    rx = Receiver(coding, **options)
    frames = 0
    packets: list[bytes] = []
    for chunk in [*chunks, None]:
        got = rx.feed(chunk) if chunk is not None else rx.flush()
        assert got.frames.shape[1:] == (coding.frame_length,)
        frames += got.frames.shape[0]
        packets += got.packets
    return rx, frames, packets


def _check_accounting(coding: ChannelCoding, rx: Receiver, frames: int,
                      packets: list[bytes]) -> None:
    c = rx.counters
    # Every CADU cut out is a good frame or counted as bad, exactly once.
    rejected = c.cadus - c.frames_ok - c.crc_errors - c.scid_mismatches
    assert rejected >= 0, c
    if coding.rs_interleave:
        # rs_uncorrectable counts codewords: 1..I of them per rejected CADU.
        assert rejected <= c.rs_uncorrectable <= rejected * coding.rs_interleave, c
    else:
        assert rejected == 0 == c.rs_uncorrectable, c
    assert frames == c.frames_ok
    assert c.packets == len(packets) == sum(c.packets_by_apid.values())
    assert c.idle_frames <= c.frames_ok
    assert min(c.as_dict()[k] for k in ("bytes_skipped", "asm_bit_errors", "sync_losses")) >= 0
    assert c.sync_losses <= c.sync_acquisitions


@FUZZ
@given(name=st.sampled_from(sorted(CODINGS)), data=st.binary(max_size=6000),
       cuts=st.lists(st.integers(0, 10**6), max_size=5))
def test_random_bytes_never_raise(name: str, data: bytes, cuts: list[int]) -> None:
    coding = CODINGS[name]
    rx, frames, packets = _run(coding, splits(data, cuts))
    _check_accounting(coding, rx, frames, packets)


@FUZZ
@given(name=st.sampled_from(sorted(CODINGS)), data=st.data(),
       cuts=st.lists(st.integers(0, 10**6), max_size=5))
def test_mutated_streams_are_counted_never_raise(name: str, data: st.DataObject,
                                                 cuts: list[int]) -> None:
    coding = CODINGS[name]
    original, _ = valid_stream(name)
    stream = data.draw(mutated(original))
    rx, frames, packets = _run(coding, splits(stream, cuts))
    _check_accounting(coding, rx, frames, packets)


@FUZZ
@given(band=st.sampled_from(["X", "S"]), data=st.data(),
       cuts=st.lists(st.integers(0, 10**6), max_size=5))
def test_mutated_real_run_is_counted(band: str, data: st.DataObject, cuts: list[int]) -> None:
    """A real apex-1.0 run's channel bytes (X: TM RS(255,223)x5; S: convolutional),
    damaged, decoded with the band's SCID check and idle VC, as ``decode`` does."""
    profile_band, original = real_run(band)
    coding = profile_band.coding
    stream = data.draw(mutated(original))
    rx, frames, packets = _run(coding, splits(stream, cuts), scid=profile_band.scid,
                               idle_vcid=profile_band.idle_vcid)
    _check_accounting(coding, rx, frames, packets)


@pytest.mark.parametrize("band", ["X", "S"])
def test_real_run_decodes_whole(band: str) -> None:
    profile_band, stream = real_run(band)
    rx, frames, packets = _run(profile_band.coding, [stream], scid=profile_band.scid,
                               idle_vcid=profile_band.idle_vcid)
    assert frames == rx.counters.cadus > 0 and len(packets) == 26
    assert rx.counters.crc_errors == rx.counters.rs_uncorrectable == 0


@FUZZ
@given(name=st.sampled_from(["tm", "aos", "uncoded"]), cuts=st.lists(st.integers(0, 10**6),
                                                                    max_size=8))
def test_clean_stream_any_split_loses_nothing(name: str, cuts: list[int]) -> None:
    coding = CODINGS[name]
    stream, n_packets = valid_stream(name)
    rx, frames, packets = _run(coding, splits(stream, cuts))
    assert frames == len(stream) // coding.cadu_length == rx.counters.cadus
    assert len(packets) == n_packets
    assert rx.counters.bytes_skipped == 0


@FUZZ
@given(name=st.sampled_from(["tm", "aos", "uncoded"]), data=st.data())
def test_junk_between_cadus_loses_no_frame(name: str, data: st.DataObject) -> None:
    """Noise between two CADUs, once locked, costs a resync, never a good frame."""
    coding = CODINGS[name]
    stream, _ = valid_stream(name)
    cl = coding.cadu_length
    n = len(stream) // cl
    where = data.draw(st.integers(2, n - 1))
    # Junk that holds no ASM-like pattern: bytes without 0x1A/0xCF/0xFC/0x1D bits
    # cannot put a near-ASM anywhere, so a resync is the only possible outcome.
    junk = data.draw(st.binary(min_size=1, max_size=200).map(lambda b: bytes(x & 0x0F for x in b)))
    rx, frames, _ = _run(coding, [stream[: where * cl], junk, stream[where * cl :]])
    assert frames == n, rx.counters
    assert rx.counters.bytes_skipped >= len(junk) - 2


@pytest.mark.xfail(strict=True, reason=(
    "known receiver limitation (issue 11 note): during acquisition a CADU "
    "with a clean ASM is dropped when the next ASM is not one CADU later (confirmation "
    "rule), even though its RS and FECF would pass; the loss is counted only as "
    "bytes_skipped. Once locked, the same junk costs no frame (test above)."))
def test_junk_after_the_first_cadu_loses_no_frame() -> None:
    coding = CODINGS["tm"]
    stream, _ = valid_stream("tm")
    cl = coding.cadu_length
    rx, frames, _ = _run(coding, [stream[:cl], b"\x00", stream[cl:]])
    assert rx.counters.bytes_skipped >= cl  # counted, at least
    assert frames == len(stream) // cl


def test_conv_clean_stream_decodes() -> None:
    stream, n_packets = valid_stream("tm-conv")
    rx, frames, packets = _run(CODINGS["tm-conv"], [stream])
    assert frames >= 11 and len(packets) >= n_packets - 2
    assert np.all(np.asarray(rx.counters.rs_uncorrectable) == 0)

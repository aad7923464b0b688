"""The coding chain and the ground receiver, end to end.

Independent references: libfec's encode_rs_ccsds (Debian libfec0) for the RS
parity inside each CADU, and 131.0's randomizer bytes and ASM.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.coding import ASM, ChannelCoding, ChannelEncoder, encode_cadus
from lunar_hil.emulator.ccsds.mux import VirtualChannelConfig, VirtualChannelMultiplexer
from lunar_hil.emulator.ccsds.packets import build_space_packets
from lunar_hil.emulator.ccsds.receiver import Receiver
from lunar_hil.emulator.ccsds.tm import TmFramer
from lunar_hil.emulator.errors import LocalProtocolError
from lunar_hil.emulator.reference import libfec_rs

TM_RS5 = ChannelCoding(frame_type="TM", frame_length=1115, fecf=True, ocf=True, rs_interleave=5)
TM_RS1_FILL = ChannelCoding(frame_type="TM", frame_length=200, fecf=True, rs_interleave=1)
TM_CONV = ChannelCoding(frame_type="TM", frame_length=223, fecf=True, rs_interleave=1,
                        convolutional=True)

# CCSDS 131.0 §10.4: the first 16 bytes of the pseudo-random sequence.
RANDOMIZER_HEAD = bytes.fromhex("FF480EC09A0D70BC8E2C93ADA7B746CE")


def make_frames(coding: ChannelCoding, n: int, seed: int = 0,
                packet_len: int = 300) -> tuple[np.ndarray, list[bytes]]:
    """n TM frames carrying whole 1-VC packet stream; returns frames and the packets."""
    rng = np.random.default_rng(seed)
    framer = TmFramer(77, coding.frame_length, ocf=coding.ocf, fecf=coding.fecf)
    zone = framer.data_field_length
    mux = VirtualChannelMultiplexer(zone, [VirtualChannelConfig(0)], idle_vcid=7)
    count = max(1, n * zone // (packet_len + 6))
    data = rng.integers(0, 256, (count, packet_len), dtype=np.uint8)
    pkts = build_space_packets(0x42, np.arange(count) % 16384, data)
    mux.push(0, pkts)
    batch = mux.pull(n, flush=True, idle=True)
    ocf = np.full(n, 0x01000000, dtype=np.uint32) if coding.ocf else None
    frames = framer.frame(batch.vcids, batch.first_header_pointers, batch.zones, ocf)
    return frames, [bytes(p) for p in pkts]


def decode_all(coding: ChannelCoding, stream: bytes, splits: list[int] | None = None):
    rx = Receiver(coding)
    frames, packets = [], []
    cuts = [0, *sorted(splits or []), len(stream)]
    for a, b in itertools.pairwise(cuts):
        got = rx.feed(stream[a:b])
        frames.append(got.frames)
        packets += got.packets
    got = rx.flush()
    frames.append(got.frames)
    packets += got.packets
    return np.concatenate(frames), packets, rx.counters


def test_cadu_layout_matches_independent_references():
    frames, _ = make_frames(TM_RS1_FILL, 3)
    cadus = encode_cadus(frames, TM_RS1_FILL)
    assert cadus.shape == (3, 4 + 200 + 32)
    for frame, cadu in zip(frames, cadus, strict=True):
        assert bytes(cadu[:4]) == ASM == bytes.fromhex("1ACFFC1D")
        # Undo the randomizer with the 131.0 sequence head, then check
        # the parity with libfec (virtual fill 23 = libfec's pad argument).
        block = cadu[4:].copy()
        block[:16] ^= np.frombuffer(RANDOMIZER_HEAD, np.uint8)
        assert bytes(block[:16]) == bytes(frame[:16])
    # Full check of data + parity through libfec on the derandomized block.
    from lunar_hil.emulator.ccsds.randomizer import randomize

    block = randomize(cadus[:, 4:])
    for frame, cb in zip(frames, block, strict=True):
        assert bytes(cb[:200]) == bytes(frame)
        assert bytes(cb[200:]) == libfec_rs.encode_rs_ccsds(bytes(frame), pad=23)


@pytest.mark.parametrize("coding", [TM_RS5, TM_RS1_FILL, TM_CONV], ids=["rs5", "rs1fill", "conv"])
def test_clean_stream_decodes_every_frame_and_packet(coding):
    frames, packets = make_frames(coding, 40)
    stream = ChannelEncoder(coding).encode(frames)
    got, pkts, c = decode_all(coding, stream)
    assert np.array_equal(got, frames)
    assert c.cadus == 40 and c.frames_ok == 40
    assert c.rs_corrected_symbols == 0 and c.rs_uncorrectable == 0 and c.crc_errors == 0
    # Every packet that was completed inside the 40 frames comes out intact, in order.
    assert pkts == packets[: len(pkts)]
    assert len(pkts) >= len(packets) - 2


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=0, max_value=40 * 1279), max_size=30))
def test_stream_split_at_random_points_gives_the_same_frames(splits):
    frames, _ = make_frames(TM_RS5, 40, seed=3)
    stream = encode_cadus(frames, TM_RS5).tobytes()
    whole, pw, _ = decode_all(TM_RS5, stream)
    split, ps, _ = decode_all(TM_RS5, stream, splits)
    assert np.array_equal(whole, split)
    assert pw == ps


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=0, max_value=16))
def test_up_to_16_symbol_errors_per_codeword_are_corrected(seed, nerr):
    rng = np.random.default_rng(seed)
    frames, _ = make_frames(TM_RS5, 4, seed=seed % 1000)
    cadus = encode_cadus(frames, TM_RS5)
    for row in cadus:
        for j in range(5):  # codeword j of the I=5 codeblock: bytes j + k*5
            pos = rng.choice(255, size=nerr, replace=False)
            row[4 + j + pos * 5] ^= rng.integers(1, 256, nerr, dtype=np.uint8)
    got, _, c = decode_all(TM_RS5, cadus.tobytes())
    assert np.array_equal(got, frames)
    assert c.rs_uncorrectable == 0
    assert c.rs_corrected_symbols == 4 * 5 * nerr


def test_noisy_stream_counts_corrections():
    frames, packets = make_frames(TM_RS5, 60, seed=5)
    cadus = encode_cadus(frames, TM_RS5).reshape(-1).copy()
    rng = np.random.default_rng(9)
    body = np.ones(cadus.size, bool)
    body[np.arange(60)[:, None] * TM_RS5.cadu_length + np.arange(4)] = False  # keep ASMs clean here
    hit = np.flatnonzero(body & (rng.random(cadus.size) < 2e-3))
    cadus[hit] ^= rng.integers(1, 256, hit.size, dtype=np.uint8)
    got, pkts, c = decode_all(TM_RS5, cadus.tobytes())
    assert c.rs_corrected_symbols == hit.size
    assert np.array_equal(got, frames)
    assert pkts == packets[: len(pkts)]


def test_bit_slip_and_misaligned_start_resynchronise():
    frames, _ = make_frames(TM_RS5, 30, seed=6)
    stream = encode_cadus(frames, TM_RS5).tobytes()
    bits = np.unpackbits(np.frombuffer(stream, np.uint8))
    # 3 garbage bits in front (not byte aligned), one bit deleted in CADU 10.
    bits = np.concatenate([[1, 0, 1], np.delete(bits, 10 * TM_RS5.cadu_length * 8 + 100)]).astype(np.uint8)
    got, _, c = decode_all(TM_RS5, np.packbits(bits).tobytes())
    assert c.sync_losses == 1
    assert c.sync_acquisitions == 2
    # Only the CADU with the slip in it is lost; all others decode.
    assert c.frames_ok == 29
    good = [bytes(f) for f in got]
    assert good == [bytes(f) for i, f in enumerate(frames) if i != 10]


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=6000), st.lists(st.integers(0, 6000), max_size=5))
def test_any_bytes_are_counted_never_raised(data, splits):
    _, _, c = decode_all(TM_RS5, data, [s for s in splits if s <= len(data)])
    assert c.frames_ok == 0 or c.cadus >= c.frames_ok


def test_random_noise_does_not_lock():
    rng = np.random.default_rng(11)
    noise = rng.integers(0, 256, 2_000_000, dtype=np.uint8).tobytes()
    _, _, c = decode_all(TM_RS5, noise)
    assert c.sync_acquisitions == 0
    assert c.frames_ok == 0
    assert c.bytes_skipped == len(noise)


def test_bad_configuration_is_a_local_protocol_error():
    with pytest.raises(LocalProtocolError):
        ChannelCoding(frame_type="TM", frame_length=1116, rs_interleave=5)
    with pytest.raises(LocalProtocolError):
        ChannelCoding(frame_type="TM", frame_length=1115, rs_interleave=6)
    with pytest.raises(LocalProtocolError):
        encode_cadus(np.zeros((2, 100), np.uint8), TM_RS5)

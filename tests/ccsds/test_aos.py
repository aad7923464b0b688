"""AOS transfer frames (CCSDS 732.0-B-4): header layout from 732.0-B-4 §4.1.2."""

from __future__ import annotations

import binascii

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.aos import (
    IDLE_VCID,
    MPDU_HEADER_LENGTH,
    AosFrameHeader,
    AosFramer,
    aos_data_field_length,
    decode_aos_frames,
    encode_aos_frames,
)
from lunar_hil.emulator.errors import LocalProtocolError, RemoteProtocolError

# (header, bytes) written out by hand from 732.0-B-4 §4.1.2 and
# 732.0-B §4.1.2: version 01 (2 bits), SCID 8, VCID 6, VC frame count 24,
# signalling field = replay (0x80) | count usage (0x40) | spare 00 | cycle (4 bits).
HEADER_VECTORS = [
    # 0b01 << 14 | 0xAB << 6 | 5 = 0x6AC5; count 0x123456; 0x80 | 0x40 | 9 = 0xC9.
    (AosFrameHeader(0xAB, 5, 0x123456, True, True, 9), bytes.fromhex("6AC5123456C9")),
    # Idle VC 63 of SCID 0: 0x4000 | 63 = 0x403F.
    (AosFrameHeader(0, IDLE_VCID, 0), bytes.fromhex("403F00000000")),
    # SCID 0xFF, VCID 0, max count: 0x4000 | 0x3FC0 = 0x7FC0.
    (AosFrameHeader(0xFF, 0, 0xFFFFFF), bytes.fromhex("7FC0FFFFFF00")),
]


@pytest.mark.parametrize(("header", "wire"), HEADER_VECTORS)
def test_header_vectors(header: AosFrameHeader, wire: bytes) -> None:
    assert header.pack() == wire
    assert AosFrameHeader.unpack(wire) == header


def test_constants() -> None:
    # 732.0 §4.1.2.3: VCID 63 is idle; the M_PDU header is 2 bytes.
    assert (IDLE_VCID, MPDU_HEADER_LENGTH) == (63, 2)


@settings(max_examples=200, deadline=None)
@given(
    st.builds(
        AosFrameHeader,
        scid=st.integers(0, 0xFF),
        vcid=st.integers(0, 63),
        vc_count=st.integers(0, 0xFFFFFF),
        replay_flag=st.booleans(),
        vc_count_usage_flag=st.booleans(),
        vc_count_cycle=st.integers(0, 15),
    )
)
def test_header_round_trip(header: AosFrameHeader) -> None:
    assert AosFrameHeader.unpack(header.pack()) == header


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=8))
def test_any_bytes_unpack_or_raise_remote_error(data: bytes) -> None:
    try:
        header = AosFrameHeader.unpack(data)
    except RemoteProtocolError:
        return
    # The two spare bits of the signalling field are not kept.
    assert header.pack() == data[:5] + bytes([data[5] & 0xCF])


def test_data_field_length() -> None:
    assert aos_data_field_length(1115, ocf=True, fecf=True, insert_zone=4) == 1115 - 6 - 4 - 4 - 2
    assert aos_data_field_length(1115, ocf=False, fecf=False) == 1109
    with pytest.raises(LocalProtocolError):
        aos_data_field_length(14, ocf=True, fecf=True)
    with pytest.raises(LocalProtocolError):
        aos_data_field_length(100, ocf=True, fecf=True, insert_zone=-1)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 0xFF),
    st.integers(1, 12),
    st.integers(1, 300),
    st.booleans(),
    st.booleans(),
    st.integers(0, 6),
    st.integers(0, 2**32 - 1),
)
def test_encode_decode_round_trip(
    scid: int,
    rows: int,
    zone_length: int,
    with_ocf: bool,
    fecf: bool,
    insert_length: int,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    vcids = rng.integers(0, 64, rows)
    vc = rng.integers(0, 1 << 24, rows)
    fhp = rng.integers(0, 0x800, rows)
    zones = rng.integers(0, 256, (rows, zone_length), dtype=np.uint8)
    ocf = rng.integers(0, 2**32, rows, dtype=np.uint64).astype(np.uint32) if with_ocf else None
    inserts = rng.integers(0, 256, (rows, insert_length), dtype=np.uint8) if insert_length else None
    frames = encode_aos_frames(scid, vcids, vc, fhp, zones, ocf=ocf, fecf=fecf, insert_zone=inserts)
    length = 6 + insert_length + 2 + zone_length + 4 * with_ocf + 2 * fecf
    assert frames.shape == (rows, length)
    for index, frame in enumerate(frames):
        wire = frame.tobytes()
        assert wire[:6] == AosFrameHeader(scid, int(vcids[index]), int(vc[index])).pack()
        mpdu = 6 + insert_length
        # M_PDU header: 5 spare bits 0 then the 11-bit FHP (732.0-B §4.1.4.2.2).
        assert int.from_bytes(wire[mpdu : mpdu + 2], "big") == fhp[index]
        if fecf:
            assert int.from_bytes(wire[-2:], "big") == binascii.crc_hqx(wire[:-2], 0xFFFF)
    batch = decode_aos_frames(frames, ocf=with_ocf, fecf=fecf, insert_zone=insert_length)
    assert len(batch) == rows and batch.crc_ok.all()
    assert (batch.scid == scid).all()
    assert np.array_equal(batch.vcid, vcids)
    assert np.array_equal(batch.vc_count, vc)
    assert np.array_equal(batch.first_header_pointer, fhp)
    assert np.array_equal(batch.packet_zones, zones)
    assert not batch.replay_flag.any()
    if inserts is None:
        assert batch.insert_zones is None
    else:
        assert batch.insert_zones is not None and np.array_equal(batch.insert_zones, inserts)
    if ocf is None:
        assert batch.ocf is None
    else:
        assert batch.ocf is not None and np.array_equal(batch.ocf, ocf)


def test_bit_errors_and_bad_versions_are_data() -> None:
    zones = np.zeros((3, 30), dtype=np.uint8)
    frames = encode_aos_frames(1, 2, [0, 1, 2], 0, zones, ocf=[7, 8, 9])
    frames[0, 10] ^= 0x04
    batch = decode_aos_frames(frames, ocf=True)
    assert batch.crc_ok.tolist() == [False, True, True]
    plain = encode_aos_frames(1, 2, 0, 0, zones, fecf=False)
    plain[1, 0] &= 0x3F  # version 00: a TM frame, not AOS
    assert decode_aos_frames(plain, ocf=False, fecf=False).crc_ok.tolist() == [True, False, True]


def test_single_frame_and_short_frames() -> None:
    frame = encode_aos_frames(3, 4, 5, 6, np.arange(8, dtype=np.uint8))
    assert frame.shape == (6 + 2 + 8 + 2,)
    batch = decode_aos_frames(frame, ocf=False)
    assert bool(batch.crc_ok) and int(batch.vc_count) == 5 and batch.packet_zones.shape == (8,)
    with pytest.raises(RemoteProtocolError):
        decode_aos_frames(np.zeros((1, 12), dtype=np.uint8), ocf=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scid": 0x100},
        {"vcids": 64},
        {"vc_counts": 1 << 24},
        {"first_header_pointers": -1},
        {"insert_zone": np.zeros((3, 2), dtype=np.uint8)},
        {"insert_zone": np.zeros(2, dtype=np.int8)},
    ],
)
def test_misuse_is_local_error(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "scid": 1,
        "vcids": 0,
        "vc_counts": 0,
        "first_header_pointers": 0,
        "packet_zones": np.zeros((2, 3), dtype=np.uint8),
    }
    args.update(kwargs)
    with pytest.raises(LocalProtocolError):
        encode_aos_frames(**args)  # type: ignore[arg-type]


def test_framer_counts_per_virtual_channel_with_24_bit_wrap() -> None:
    framer = AosFramer(0x42, 80, ocf=True, fecf=True, insert_zone=2)
    assert framer.data_field_length == 80 - 6 - 2 - 4 - 2
    zones = np.zeros((4, framer.data_field_length - MPDU_HEADER_LENGTH), dtype=np.uint8)
    batch = decode_aos_frames(
        framer.frame([1, IDLE_VCID, 1, 2], 0, zones, ocf_words=[1, 2, 3, 4]),
        ocf=True,
        insert_zone=2,
    )
    assert batch.vc_count.tolist() == [0, 0, 1, 0]
    assert batch.crc_ok.all() and batch.insert_zones is not None and not batch.insert_zones.any()
    framer._vc_next[1] = (1 << 24) - 1  # jump near the wrap
    batch = decode_aos_frames(framer.frame(1, 0, zones, ocf_words=0), ocf=True, insert_zone=2)
    assert batch.vc_count.tolist() == [(1 << 24) - 1, 0, 1, 2]
    with pytest.raises(LocalProtocolError):
        framer.frame(1, 0, zones)  # the channel has an OCF
    with pytest.raises(LocalProtocolError):
        framer.frame(1, 0, zones, ocf_words=0, insert_zones=np.zeros(3, dtype=np.uint8))

"""TM transfer frames (CCSDS 132.0-B-3): header layout from 132.0-B-3 §4.1.2, spacepackets-py cross-check."""

from __future__ import annotations

import binascii

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacepackets.ccsds import tm_frame as ref

from lunar_hil.emulator.ccsds.tm import (
    FHP_IDLE,
    FHP_NO_PACKET_START,
    TM_PRIMARY_HEADER_LENGTH,
    TmFrameHeader,
    TmFramer,
    decode_tm_frames,
    encode_tm_frames,
    tm_data_field_length,
)
from lunar_hil.emulator.errors import LocalProtocolError, RemoteProtocolError

# (header, bytes), written out by hand from 132.0-B-3 §4.1.2:
# version 00, SCID 10 bits, VCID 3, OCF flag 1, MC 8, VC 8, data field status
# (sec. header 0x8000, sync 0x4000, FHP & 0x7FF; order 0x2000, segment length
# ID 0x1800 per 132.0-B §4.1.2.7).
HEADER_VECTORS = [
    # SCID 0x1AB, VCID 1, OCF -> 0x1AB0 | 0x2 | 0x1; status 0x1800 | 0.
    (TmFrameHeader(0x1AB, 1, True, 0, 5, 0), bytes.fromhex("1AB300051800")),
    # SCID 0x3FF, VCID 7, no OCF -> 0x3FFE; sec hdr + sync + FHP 0x123 -> 0xC123.
    (
        TmFrameHeader(0x3FF, 7, False, 0xFF, 0x80, 0x123, True, True, False, 0),
        bytes.fromhex("3FFEFF80C123"),
    ),
    # Idle-only frame: FHP 0x7FE; packet order flag 0x2000.
    (
        TmFrameHeader(0, 0, False, 1, 2, FHP_IDLE, packet_order_flag=True),
        bytes.fromhex("000001023FFE"),
    ),
]


@pytest.mark.parametrize(("header", "wire"), HEADER_VECTORS)
def test_header_vectors(header: TmFrameHeader, wire: bytes) -> None:
    assert header.pack() == wire
    assert TmFrameHeader.unpack(wire) == header


def test_fhp_constants() -> None:
    # 132.0 §4.1.2.7: 0x7FF = no packet starts here; 0x7FE = idle data only.
    assert (FHP_NO_PACKET_START, FHP_IDLE) == (0x7FF, 0x7FE)


header_strategy = st.builds(
    TmFrameHeader,
    scid=st.integers(0, 0x3FF),
    vcid=st.integers(0, 7),
    ocf_flag=st.booleans(),
    mc_count=st.integers(0, 255),
    vc_count=st.integers(0, 255),
    first_header_pointer=st.integers(0, 0x7FF),
    sec_header_flag=st.booleans(),
    sync_flag=st.booleans(),
    packet_order_flag=st.booleans(),
    segment_length_id=st.integers(0, 3),
)


@settings(max_examples=200, deadline=None)
@given(header_strategy)
def test_header_round_trip_and_spacepackets_agree(header: TmFrameHeader) -> None:
    wire = header.pack()
    assert TmFrameHeader.unpack(wire) == header
    other = ref.TmFramePrimaryHeader(
        ref.MasterChannelId(0, header.scid),
        header.vcid,
        header.ocf_flag,
        header.mc_count,
        header.vc_count,
        ref.TransferFrameDataFieldStatus(
            header.sec_header_flag,
            header.sync_flag,
            header.packet_order_flag,
            header.segment_length_id,
            header.first_header_pointer,
        ),
    )
    assert other.pack() == wire


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=8))
def test_any_bytes_unpack_or_raise_remote_error(data: bytes) -> None:
    try:
        header = TmFrameHeader.unpack(data)
    except RemoteProtocolError:
        return
    assert header.pack() == data[:TM_PRIMARY_HEADER_LENGTH]


def test_data_field_length() -> None:
    assert tm_data_field_length(1115, ocf=True, fecf=True) == 1115 - 6 - 4 - 2
    assert tm_data_field_length(1115, ocf=False, fecf=False) == 1109
    with pytest.raises(LocalProtocolError):
        tm_data_field_length(12, ocf=True, fecf=True)
    with pytest.raises(LocalProtocolError):
        tm_data_field_length(2049, ocf=False, fecf=False)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 0x3FF),
    st.integers(1, 12),
    st.integers(1, 300),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_encode_decode_round_trip_against_value_objects_and_spacepackets(
    scid: int, rows: int, field_length: int, with_ocf: bool, fecf: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    vcids = rng.integers(0, 8, rows)
    mc = rng.integers(0, 256, rows)
    vc = rng.integers(0, 256, rows)
    fhp = rng.integers(0, 0x800, rows)
    fields = rng.integers(0, 256, (rows, field_length), dtype=np.uint8)
    ocf = rng.integers(0, 2**32, rows, dtype=np.uint64).astype(np.uint32) if with_ocf else None
    frames = encode_tm_frames(scid, vcids, mc, vc, fhp, fields, ocf=ocf, fecf=fecf)
    length = TM_PRIMARY_HEADER_LENGTH + field_length + 4 * with_ocf + 2 * fecf
    assert frames.shape == (rows, length)
    for index, frame in enumerate(frames):
        wire = frame.tobytes()
        header = TmFrameHeader(
            scid, int(vcids[index]), with_ocf, int(mc[index]), int(vc[index]), int(fhp[index])
        )
        assert wire[:6] == header.pack()
        assert wire[6 : 6 + field_length] == fields[index].tobytes()
        if ocf is not None:
            assert wire[6 + field_length : 10 + field_length] == int(ocf[index]).to_bytes(4, "big")
        if fecf:
            # binascii is the independent CRC; spacepackets checks it with fastcrc.
            assert int.from_bytes(wire[-2:], "big") == binascii.crc_hqx(wire[:-2], 0xFFFF)
            parsed = ref.TmTransferFrame.unpack(wire, length, True)
            assert parsed.data_field == fields[index].tobytes()
    batch = decode_tm_frames(frames, fecf=fecf)
    assert len(batch) == rows
    assert (batch.scid == scid).all()
    assert np.array_equal(batch.vcid, vcids)
    assert np.array_equal(batch.mc_count, mc)
    assert np.array_equal(batch.vc_count, vc)
    assert np.array_equal(batch.first_header_pointer, fhp)
    assert np.array_equal(batch.data_fields, fields)
    assert (batch.ocf_flag == with_ocf).all()
    assert batch.crc_ok.all()
    if ocf is None:
        assert batch.ocf is None
    else:
        assert batch.ocf is not None and np.array_equal(batch.ocf, ocf)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 8 * 40 - 1))
def test_any_single_bit_error_fails_the_crc(seed: int, bit: int) -> None:
    rng = np.random.default_rng(seed)
    fields = rng.integers(0, 256, (3, 34), dtype=np.uint8)
    frames = encode_tm_frames(5, 1, [0, 1, 2], [0, 1, 2], 0, fields, ocf=[1, 2, 3])
    assert frames.shape == (3, 46)
    damaged = frames.copy()
    damaged[1, bit // 8] ^= np.uint8(0x80 >> (bit % 8))
    batch = decode_tm_frames(damaged)
    assert batch.crc_ok.tolist() == [True, False, True]


def test_damaged_header_is_data_not_an_exception() -> None:
    frames = encode_tm_frames(5, 0, 0, 0, 0, np.zeros((3, 20), dtype=np.uint8), fecf=False)
    frames[2, 0] |= 0xC0  # version 11
    frames[1, 1] |= 0x01  # OCF flag set on a channel without OCF
    batch = decode_tm_frames(frames, fecf=False)
    assert batch.crc_ok.tolist() == [True, False, False]


def test_single_frame_keeps_its_shape() -> None:
    frame = encode_tm_frames(1, 2, 3, 4, 5, np.arange(10, dtype=np.uint8))
    assert frame.shape == (18,)
    batch = decode_tm_frames(frame)
    assert batch.data_fields.shape == (10,) and bool(batch.crc_ok)
    assert int(batch.vc_count) == 4


def test_short_frames_are_remote_errors() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_tm_frames(np.zeros((2, 5), dtype=np.uint8))
    with pytest.raises(RemoteProtocolError):
        decode_tm_frames(np.zeros((2, 8), dtype=np.uint8), fecf=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scid": 0x400},
        {"vcids": 8},
        {"mc_counts": 256},
        {"vc_counts": [0, -1]},
        {"first_header_pointers": 0x800},
        {"vcids": [0, 1, 2]},
        {"data_fields": np.zeros((2, 3), dtype=np.int32)},
        {"data_fields": np.zeros((2, 2043), dtype=np.uint8)},
        {"ocf": [0, 2**32]},
    ],
)
def test_misuse_is_local_error(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "scid": 1,
        "vcids": 0,
        "mc_counts": 0,
        "vc_counts": 0,
        "first_header_pointers": 0,
        "data_fields": np.zeros((2, 3), dtype=np.uint8),
    }
    args.update(kwargs)
    with pytest.raises(LocalProtocolError):
        encode_tm_frames(**args)  # type: ignore[arg-type]


def test_framer_counts_master_and_virtual_channels() -> None:
    framer = TmFramer(0x2A, 60, ocf=True, fecf=True)
    assert framer.data_field_length == 60 - 12
    zeros = np.zeros((5, framer.data_field_length), dtype=np.uint8)
    first = decode_tm_frames(framer.frame([0, 1, 0, 0, 1], 0, zeros, ocf_words=0))
    assert first.mc_count.tolist() == [0, 1, 2, 3, 4]
    assert first.vc_count.tolist() == [0, 0, 1, 2, 1]
    second = decode_tm_frames(framer.frame([1, 0, 7, 1, 1], 0, zeros, ocf_words=0))
    assert second.mc_count.tolist() == [5, 6, 7, 8, 9]
    assert second.vc_count.tolist() == [2, 3, 0, 3, 4]
    assert (first.scid == 0x2A).all() and first.crc_ok.all() and second.crc_ok.all()


def test_framer_counts_wrap_at_256_and_survive_errors() -> None:
    framer = TmFramer(1, 20, ocf=False, fecf=False)
    fields = np.zeros((300, framer.data_field_length), dtype=np.uint8)
    with pytest.raises(LocalProtocolError):
        framer.frame(0, 0x800, fields)  # bad FHP: counters must not advance
    batch = decode_tm_frames(framer.frame(3, 0, fields), fecf=False)
    expected = (np.arange(300) % 256).tolist()
    assert batch.mc_count.tolist() == expected and batch.vc_count.tolist() == expected
    with pytest.raises(LocalProtocolError):
        framer.frame(0, 0, fields, ocf_words=np.zeros(300, dtype=np.uint32))
    with pytest.raises(LocalProtocolError):
        framer.frame(0, 0, np.zeros((2, 3), dtype=np.uint8))

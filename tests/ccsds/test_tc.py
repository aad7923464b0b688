"""TC transfer frames (CCSDS 232.0 §4.1).

Header vectors are written as bit strings straight from the field table of
232.0 §4.1.2 (version 2, bypass 1, control command 1, spare 2, SCID 10, VCID 6,
length 10, sequence 8).  The FECF is checked with binascii.crc_hqx, whose
"123456789" -> 0x29B1 check value is CRC-16/CCITT-FALSE's.
"""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.tc import TcFrame, TcFrameHeader
from lunar_hil.emulator.errors import LocalProtocolError, ProtocolError, RemoteProtocolError


def bits(s: str) -> bytes:
    s = s.replace(" ", "")
    return int(s, 2).to_bytes(len(s) // 8, "big")


HEADER_VECTORS = [
    # (header, bit string: version|bypass|cc|spare|scid|vcid|length|seq)
    (
        TcFrameHeader(scid=0x123, vcid=5, frame_length=17, seq=7),
        "00 0 0 00 0100100011 000101 0000010001 00000111",
    ),
    (
        TcFrameHeader(
            scid=0x3FF, vcid=63, frame_length=1023, seq=255, bypass=True, control_command=True
        ),
        "00 1 1 00 1111111111 111111 1111111111 11111111",
    ),
    (
        TcFrameHeader(scid=1, vcid=0, frame_length=6, seq=0, bypass=True),
        "00 1 0 00 0000000001 000000 0000000110 00000000",
    ),
]


def test_crc_hqx_check_value() -> None:
    # 232.0 §4.1.4.2: CRC-16 0x1021 init 0xFFFF of "123456789" is 0x29B1.
    assert binascii.crc_hqx(b"123456789", 0xFFFF) == 0x29B1


@pytest.mark.parametrize(("header", "wire"), HEADER_VECTORS)
def test_header_vectors(header: TcFrameHeader, wire: str) -> None:
    assert header.pack() == bits(wire)
    assert TcFrameHeader.unpack(bits(wire)) == header


def test_frame_with_fecf_layout() -> None:
    frame = TcFrame.ad(0x123, 5, 7, b"hello world")
    wire = frame.pack()
    assert len(wire) == 5 + 11 + 2
    assert wire[:5] == bits("00 0 0 00 0100100011 000101 0000010001 00000111")
    assert wire[5:-2] == b"hello world"
    assert wire[-2:] == binascii.crc_hqx(wire[:-2], 0xFFFF).to_bytes(2, "big")


def test_named_constructors_set_type_flags_and_bc_contents() -> None:
    assert TcFrame.ad(1, 2, 3, b"x").header.frame_type == "AD"
    bd = TcFrame.bd(1, 2, 0, b"x")
    assert (bd.header.bypass, bd.header.control_command) == (True, False)
    unlock = TcFrame.bc_unlock(1, 2)
    assert (unlock.header.bypass, unlock.header.control_command) == (True, True)
    assert unlock.data == b"\x00"  # 232.1: Unlock control command is one octet 00
    set_vr = TcFrame.bc_set_vr(1, 2, 0xAB)
    assert set_vr.data == b"\x82\x00\xab"  # 232.1: Set V(R) is 82 00 V*(R)
    assert set_vr.header.frame_type == "BC"


@settings(max_examples=120, deadline=None)
@given(
    scid=st.integers(0, 1023),
    vcid=st.integers(0, 63),
    seq=st.integers(0, 255),
    data=st.binary(min_size=1, max_size=1017),
    bypass=st.booleans(),
    fecf=st.booleans(),
    fill=st.binary(max_size=10),
)
def test_round_trip(
    scid: int, vcid: int, seq: int, data: bytes, bypass: bool, fecf: bool, fill: bytes
) -> None:
    if bypass:
        frame = TcFrame.bd(scid, vcid, seq, data, fecf=fecf)
    else:
        frame = TcFrame.ad(scid, vcid, seq, data, fecf=fecf)
    # Trailing octets (e.g. CLTU fill 0x55) beyond the length field are ignored.
    assert TcFrame.unpack(frame.pack(fecf) + fill, fecf=fecf) == frame


def test_bad_crc_is_remote_error_with_offset() -> None:
    wire = bytearray(TcFrame.ad(1, 1, 1, b"abc").pack())
    wire[6] ^= 0x01
    with pytest.raises(RemoteProtocolError) as info:
        TcFrame.unpack(bytes(wire))
    assert info.value.offset == len(wire) - 2


def test_truncated_frame_is_remote_error() -> None:
    wire = TcFrame.ad(1, 1, 1, b"abcdef").pack()
    with pytest.raises(RemoteProtocolError):
        TcFrame.unpack(wire[:-1])
    with pytest.raises(RemoteProtocolError):
        TcFrameHeader.unpack(wire[:4])


def test_version_other_than_zero_is_remote_error() -> None:
    with pytest.raises(RemoteProtocolError):
        TcFrameHeader.unpack(bits("01 0 0 00 0000000001 000000 0000000110 00000000"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.booleans())
def test_garbage_parses_or_raises_remote_protocol_error(data: bytes, fecf: bool) -> None:
    try:
        frame = TcFrame.unpack(data, fecf=fecf)
    except ProtocolError as exc:
        assert isinstance(exc, RemoteProtocolError)
    else:
        assert frame.pack(fecf) == data[: frame.header.total_length]


def test_misuse_is_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError):
        TcFrameHeader(scid=1024, vcid=0, frame_length=6)
    with pytest.raises(LocalProtocolError):
        TcFrameHeader(scid=0, vcid=64, frame_length=6)
    with pytest.raises(LocalProtocolError):
        TcFrame.ad(1, 1, 256, b"x")
    with pytest.raises(LocalProtocolError):
        TcFrame.ad(1, 1, 0, b"")
    with pytest.raises(LocalProtocolError):
        TcFrame.ad(1, 1, 0, bytes(1018))  # 5 + 1018 + 2 > 1024 octets
    with pytest.raises(LocalProtocolError):
        TcFrame.bc_set_vr(1, 1, 300)
    frame = TcFrame.ad(1, 1, 0, b"abc")
    with pytest.raises(LocalProtocolError):
        frame.pack(fecf=False)  # length field was computed with the FECF

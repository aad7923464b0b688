"""Space packets (CCSDS 133.0-B-2): hand-written vectors, spacepackets-py as a cross-check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacepackets.ccsds import spacepacket as ref

from lunar_hil.emulator.ccsds.packets import (
    IDLE_APID,
    PRIMARY_HEADER_LENGTH,
    PacketType,
    SequenceCounter,
    SequenceFlags,
    SpacePacket,
    SpacePacketHeader,
    build_space_packets,
    idle_packet,
    scan_space_packets,
)
from lunar_hil.emulator.errors import LocalProtocolError, RemoteProtocolError

# (object, bytes) vectors.
PACKET_VECTORS = [
    # 133.0 §4.1: APID 11, unsegmented, data "hello".
    (
        SpacePacket(SpacePacketHeader(PacketType.TM, 11, 0, 5), b"hello"),
        bytes.fromhex("000BC000000468656C6C6F"),
    ),
]
HEADER_VECTORS = [
    # 133.0-B §4.1.3 field layout, written out by hand: version 000, type 1,
    # sec. header 1, APID 0x7FF -> 0x1FFF; flags 01, count 0x3FFF -> 0x7FFF;
    # 65536 octets -> length field 0xFFFF.
    (
        SpacePacketHeader(PacketType.TC, 0x7FF, 0x3FFF, 65536, True, SequenceFlags.FIRST),
        bytes.fromhex("1FFF7FFFFFFF"),
    ),
    # Type 0, no sec. header, APID 0, flags 10 (last), count 1, 1 octet -> 0x0000.
    (
        SpacePacketHeader(PacketType.TM, 0, 1, 1, False, SequenceFlags.LAST),
        bytes.fromhex("000080010000"),
    ),
]


@pytest.mark.parametrize(("packet", "wire"), PACKET_VECTORS)
def test_packet_vectors(packet: SpacePacket, wire: bytes) -> None:
    assert packet.pack() == wire
    assert SpacePacket.unpack(wire) == packet
    data = np.frombuffer(packet.data, dtype=np.uint8)
    built = build_space_packets(packet.apid, packet.header.seq_count, data, sec_header_flag=False)
    assert built.tobytes() == wire


@pytest.mark.parametrize(("header", "wire"), HEADER_VECTORS)
def test_header_vectors(header: SpacePacketHeader, wire: bytes) -> None:
    assert header.pack() == wire
    assert SpacePacketHeader.unpack(wire) == header


def test_named_constructor_and_length() -> None:
    header = SpacePacketHeader.tm(apid=0x123, seq_count=7, data_length=10)
    assert header.packet_type == PacketType.TM and header.sec_header_flag
    assert header.seq_flags == SequenceFlags.UNSEGMENTED
    assert header.packet_length == 16


headers = st.builds(
    SpacePacketHeader,
    packet_type=st.sampled_from(PacketType),
    apid=st.integers(0, 0x7FF),
    seq_count=st.integers(0, 0x3FFF),
    data_length=st.integers(1, 65536),
    sec_header_flag=st.booleans(),
    seq_flags=st.sampled_from(SequenceFlags),
)


@settings(max_examples=200, deadline=None)
@given(headers)
def test_header_round_trip_and_spacepackets_agree(header: SpacePacketHeader) -> None:
    wire = header.pack()
    assert SpacePacketHeader.unpack(wire) == header
    # spacepackets-py (us-irs) as an independent implementation; its data_len is octets - 1.
    other = ref.SpacePacketHeader(
        packet_type=ref.PacketType(int(header.packet_type)),
        apid=header.apid,
        seq_count=header.seq_count,
        data_len=header.data_length - 1,
        sec_header_flag=header.sec_header_flag,
        seq_flags=ref.SequenceFlags(int(header.seq_flags)),
    )
    assert other.pack() == wire


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=20))
def test_any_bytes_unpack_or_raise_remote_error(data: bytes) -> None:
    try:
        packet = SpacePacket.unpack(data)
    except RemoteProtocolError:
        return
    assert packet.pack() == data[: packet.header.packet_length]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"apid": 0x800},
        {"apid": -1},
        {"seq_count": 0x4000},
        {"data_length": 0},
        {"data_length": 65537},
    ],
)
def test_out_of_range_fields_are_local_errors(kwargs: dict[str, int]) -> None:
    fields = {"packet_type": PacketType.TM, "apid": 1, "seq_count": 0, "data_length": 1}
    fields.update(kwargs)
    with pytest.raises(LocalProtocolError):
        SpacePacketHeader(**fields)  # type: ignore[arg-type]


def test_data_length_must_match_header() -> None:
    with pytest.raises(LocalProtocolError):
        SpacePacket(SpacePacketHeader(PacketType.TM, 1, 0, 4), b"hello")


def test_truncated_and_wrong_version_are_remote_errors() -> None:
    wire = PACKET_VECTORS[0][1]
    with pytest.raises(RemoteProtocolError) as info:
        SpacePacket.unpack(wire[:-1])
    assert info.value.offset == len(wire) - 1
    with pytest.raises(RemoteProtocolError):
        SpacePacketHeader.unpack(bytes([0x20]) + wire[1:6])  # version 001


def test_idle_packet() -> None:
    packet = SpacePacket.unpack(idle_packet(20, seq_count=9))
    assert packet.is_idle and packet.apid == IDLE_APID == 0x7FF
    assert packet.header.packet_length == 20 and packet.header.seq_count == 9
    assert len(idle_packet(7)) == 7
    with pytest.raises(LocalProtocolError):
        idle_packet(6)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 0x7FF),
    st.integers(1, 20),
    st.integers(1, 300),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_build_space_packets_matches_value_objects(
    apid: int, rows: int, length: int, seed: int, sec_header_flag: bool
) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (rows, length), dtype=np.uint8)
    counts = rng.integers(0, 0x4000, rows)
    built = build_space_packets(apid, counts, data, sec_header_flag=sec_header_flag)
    assert built.shape == (rows, PRIMARY_HEADER_LENGTH + length)
    for row, count, wire in zip(data, counts, built, strict=True):
        header = SpacePacketHeader(PacketType.TM, apid, int(count), length, sec_header_flag)
        assert wire.tobytes() == SpacePacket(header, row.tobytes()).pack()


def test_build_space_packets_rejects_misuse() -> None:
    data = np.zeros((2, 4), dtype=np.uint8)
    with pytest.raises(LocalProtocolError):
        build_space_packets(0x800, 0, data)
    with pytest.raises(LocalProtocolError):
        build_space_packets(1, [0, 0x4000], data)
    with pytest.raises(LocalProtocolError):
        build_space_packets(1, 0, data.astype(np.int16))
    with pytest.raises(LocalProtocolError):
        build_space_packets(1, 0, np.zeros((2, 0), dtype=np.uint8))


def test_sequence_counter_wraps_per_apid() -> None:
    counter = SequenceCounter()
    assert counter.take(5, 3).tolist() == [0, 1, 2]
    assert counter.take(6).tolist() == [0]
    counter.take(5, 16384 - 4)
    assert counter.take(5, 3).tolist() == [16383, 0, 1]
    assert counter.peek(5) == 2
    with pytest.raises(LocalProtocolError):
        counter.take(0x800)


def _packet_stream(rng: np.random.Generator, count: int) -> list[bytes]:
    packets = []
    for index in range(count):
        length = int(rng.integers(1, 60))
        data = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
        apid = int(rng.choice([0x10, 0x20, 0x7FF]))
        packets.append(SpacePacket(SpacePacketHeader.tm(apid, index, length), data).pack())
    return packets


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 15))
def test_scan_finds_every_packet_between_garbage(seed: int, count: int) -> None:
    rng = np.random.default_rng(seed)
    packets = _packet_stream(rng, count)
    stream = b""
    garbage_ranges = []
    for packet in packets:
        if rng.random() < 0.5:
            # Garbage whose first three bits are never 000: not a packet header.
            junk = rng.integers(0x20, 0x100, int(rng.integers(1, 12)), dtype=np.uint8).tobytes()
            garbage_ranges.append((len(stream), len(stream) + len(junk)))
            stream += junk
        stream += packet
    found, skipped, consumed = scan_space_packets(stream)
    assert [p.pack() for p in found] == packets
    assert skipped == garbage_ranges
    assert consumed == len(stream)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 10), st.integers(1, 40))
def test_scan_keeps_an_incomplete_tail_and_resumes(seed: int, count: int, cut: int) -> None:
    rng = np.random.default_rng(seed)
    packets = _packet_stream(rng, count)
    stream = b"".join(packets)
    cut = min(cut, len(packets[-1]) - 1)
    head = stream[: len(stream) - cut]
    found, skipped, consumed = scan_space_packets(head)
    assert [p.pack() for p in found] == packets[:-1]
    assert skipped == [] and consumed == len(stream) - len(packets[-1])
    rest, _, consumed_rest = scan_space_packets(head[consumed:] + stream[len(head) :])
    assert [p.pack() for p in rest] == packets[-1:]
    assert consumed_rest == len(packets[-1])


def test_scan_with_apid_filter_rejects_random_zero_prefix_garbage() -> None:
    rng = np.random.default_rng(11)
    packets = _packet_stream(rng, 20)
    stream = b""
    for packet in packets:
        # Unfiltered garbage: may look like a header; the APID filter decides.
        stream += bytes([0x00, 0x01, 0x00, 0x00]) + packet
    found, skipped, _ = scan_space_packets(stream, apids={0x10, 0x20, 0x7FF})
    assert [p.pack() for p in found] == packets
    assert len(skipped) == 20


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_scan_any_bytes_never_raises(data: bytes) -> None:
    found, skipped, consumed = scan_space_packets(data)
    assert 0 <= consumed <= len(data)
    covered = sum(p.header.packet_length for p in found) + sum(b - a for a, b in skipped)
    assert covered == consumed

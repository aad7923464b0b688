"""Fuzzing the unpackers that take octets from the link: space packets (one and
a stream), TM and AOS frame headers and batches, the packet demultiplexer, CUC
time codes and CLCW words. Each returns a value or raises our own error."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lunar_hil.emulator.binding import pick_band, telemetry_dictionary
from lunar_hil.emulator.ccsds import (
    AosFrameHeader,
    Clcw,
    CucTime,
    PacketDemultiplexer,
    SpacePacket,
    SpacePacketHeader,
    TmFrameHeader,
    apid_of,
    decode_aos_frames,
    decode_cuc_batch,
    decode_tm_frames,
    scan_space_packets,
)
from lunar_hil.emulator.telemetry import TelemetryDictionary
from lunar_hil.profiles.loader import load_profile

from .strategies import FUZZ, ours_only


@FUZZ
@given(data=st.binary(max_size=400))
def test_space_packet_unpack(data: bytes) -> None:
    with ours_only():
        SpacePacketHeader.unpack(data)
    with ours_only():
        packet = SpacePacket.unpack(data)
        assert packet.pack() == data[: packet.header.packet_length]
    if len(data) >= 2:
        assert 0 <= apid_of(data) < 2048


@FUZZ
@given(data=st.binary(max_size=3000), max_length=st.integers(7, 65542),
       apids=st.none() | st.sets(st.integers(0, 2047), max_size=4))
def test_scan_space_packets_accounts_for_every_octet(data: bytes, max_length: int,
                                                    apids: set[int] | None) -> None:
    with ours_only():
        packets, skipped, consumed = scan_space_packets(data, max_length=max_length, apids=apids)
        # Packets and skipped ranges tile buf[:consumed] without overlap or gap.
        covered = sum(p.header.packet_length for p in packets) + sum(b - a for a, b in skipped)
        assert covered == consumed <= len(data)
        assert all(a < b for a, b in skipped)


@FUZZ
@given(rows=st.integers(1, 6), length=st.integers(0, 300), seed=st.integers(0, 2**32 - 1),
       fecf=st.booleans(), ocf=st.booleans(), insert_zone=st.integers(0, 8))
def test_tm_and_aos_batches(rows: int, length: int, seed: int, fecf: bool, ocf: bool,
                            insert_zone: int) -> None:
    frames = np.random.default_rng(seed).integers(0, 256, (rows, length), dtype=np.uint8)
    if seed % 3 == 0 and length >= 2:
        frames[:, 0] &= 0x3F  # version 0: TM headers that parse
    elif seed % 3 == 1 and length >= 2:
        frames[:, 0] = (frames[:, 0] & 0x3F) | 0x40  # version 1: AOS
    with ours_only():
        tb = decode_tm_frames(frames, fecf=fecf)
        assert len(tb) == rows and tb.crc_ok.shape == (rows,)
    with ours_only():
        ab = decode_aos_frames(frames, ocf=ocf, fecf=fecf, insert_zone=insert_zone)
        assert len(ab) == rows and ab.crc_ok.shape == (rows,)
    for row in frames:
        with ours_only():
            TmFrameHeader.unpack(row.tobytes()).pack()
        with ours_only():
            AosFrameHeader.unpack(row.tobytes()).pack()


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30), zone=st.integers(1, 120),
       vcids=st.lists(st.integers(0, 7), min_size=30, max_size=30),
       fhp_mode=st.sampled_from(["random", "small", "idle-mix"]))
def test_demultiplexer_on_garbage_zones(seed: int, n: int, zone: int, vcids: list[int],
                                        fhp_mode: str) -> None:
    rng = np.random.default_rng(seed)
    zones = rng.integers(0, 256, (n, zone), dtype=np.uint8)
    zones[rng.random((n, zone)) < 0.3] = 0  # version-0 headers are likely
    if fhp_mode == "random":
        fhps = rng.integers(0, 2048, n)
    elif fhp_mode == "small":
        fhps = rng.integers(0, zone + 2, n)
    else:
        fhps = np.where(rng.random(n) < 0.3, 2047, rng.integers(0, zone, n))
    counts = np.cumsum(rng.integers(0, 3, n)) % 256
    demux = PacketDemultiplexer(vc_count_modulus=256, idle_vcid=7)
    got = demux.feed(np.array(vcids[:n]), counts, fhps, zones)
    for vc, packet in got:
        assert 0 <= vc < 7
        SpacePacket.unpack(packet)  # every packet out is a whole, parseable packet
    assert demux.counters["frames"] == n
    assert all(v >= 0 for v in demux.counters.values())


@FUZZ
@given(data=st.binary(max_size=12), coarse=st.integers(0, 5), fine=st.integers(0, 4),
       pfield=st.booleans())
def test_cuc_unpack(data: bytes, coarse: int, fine: int, pfield: bool) -> None:
    with ours_only():
        t = CucTime.unpack(data, with_pfield=pfield, coarse_octets=coarse, fine_octets=fine)
        assert t.to_seconds() >= 0
        assert CucTime.unpack(t.pack(True), with_pfield=True) == t
    with ours_only():
        fields = np.frombuffer(data, np.uint8)
        size = coarse + fine
        if size and len(fields) >= size:
            fields = fields[: len(fields) // size * size].reshape(-1, size)
        seconds = decode_cuc_batch(fields, coarse, fine)
        assert np.all(np.asarray(seconds) >= 0)


@FUZZ
@given(word=st.integers(-(2**33), 2**33), data=st.binary(max_size=6))
def test_clcw(word: int, data: bytes) -> None:
    with ours_only():
        assert Clcw.from_int(Clcw.from_int(word).to_int()) == Clcw.from_int(word)
    with ours_only():
        Clcw.unpack(data)


_DICTIONARY: list[TelemetryDictionary] = []


def _dictionary() -> TelemetryDictionary:
    if not _DICTIONARY:
        profile = load_profile("apex-1.0")
        _DICTIONARY.append(telemetry_dictionary(profile, pick_band(profile, None)))
    return _DICTIONARY[0]


@FUZZ
@given(bodies=st.lists(st.binary(max_size=300), max_size=10), data=st.data())
def test_decode_packets_to_parameters(bodies: list[bytes], data: st.DataObject) -> None:
    """``decode --params-out``: any packet the demultiplexer can deliver (7 octets or
    more, any APID, any content) yields one record and never raises."""
    dictionary = _dictionary()
    apids = [layout.apid for layout in dictionary]
    packets = []
    for body in bodies:
        apid = data.draw(st.sampled_from([*apids, 0, 2046]))
        length = max(1, len(body))
        header = SpacePacketHeader.tm(apid, 0, length)
        packets.append(header.pack() + body.ljust(length, b"\x00"))
    records = list(dictionary.decode_packets(packets))
    assert len(records) == len(packets)
    for rec, packet in zip(records, packets, strict=True):
        assert rec["apid"] == apid_of(packet)
        if "error" in rec:
            assert rec["params"] == {} and rec["time"] is None
        else:
            assert rec["time"] >= 0 and set(rec["params"]) == {
                c.name for c in dictionary[rec["apid"]].channels}

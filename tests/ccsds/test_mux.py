"""VC multiplexer and packet demultiplexer (CCSDS 132.0 §4.1.2.7, 732.0 §4.1.4, 133.0 §4.1.3).

The expected values are computed here independently of the code under test:
packets are built by hand from the 133.0 layout (checked against the
133.0 "hello" vector), and FHPs are checked by a plain byte-walking
reference over each VC's concatenated zones.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds.demux import PacketDemultiplexer
from lunar_hil.emulator.ccsds.mux import (
    FHP_IDLE,
    FHP_NO_PACKET_START,
    MuxBatch,
    VirtualChannelConfig,
    VirtualChannelMultiplexer,
)
from lunar_hil.emulator.errors import LocalProtocolError

IDLE_APID = 0x7FF


def make_packet(apid: int, data: bytes, seq: int = 0) -> bytes:
    """A telemetry space packet laid out by hand from CCSDS 133.0 §4.1.3."""
    word0 = (0 << 13) | (0 << 12) | (0 << 11) | apid  # version 000, TM, no sec. header
    word1 = (0b11 << 14) | (seq & 0x3FFF)  # unsegmented
    word2 = len(data) - 1
    return word0.to_bytes(2, "big") + word1.to_bytes(2, "big") + word2.to_bytes(2, "big") + data


def random_packet(rng: random.Random, length: int, seq: int = 0) -> bytes:
    return make_packet(rng.randrange(0, IDLE_APID), rng.randbytes(length - 6), seq)


def apid_of(packet: bytes) -> int:
    return ((packet[0] & 0x07) << 8) | packet[1]


def reference_walk(stream: bytes) -> list[int]:
    """Packet start offsets in a back-to-back stream, one byte-level step at a time."""
    starts, p = [], 0
    while p + 6 <= len(stream):
        starts.append(p)
        p += ((stream[p + 4] << 8) | stream[p + 5]) + 7
    if p < len(stream):
        starts.append(p)
    return starts


def reference_fhps(stream: bytes, zone_length: int) -> list[int]:
    """FHP of each zone: offset of the first packet header starting in it, else 0x7FF."""
    starts = reference_walk(stream)
    out, k = [], 0
    for z in range(0, len(stream), zone_length):
        while k < len(starts) and starts[k] < z:
            k += 1
        out.append(starts[k] - z if k < len(starts) and starts[k] < z + zone_length else 0x7FF)
    return out


def vc_counts_for(vcids: np.ndarray, counters: dict[int, int], modulus: int = 256) -> np.ndarray:
    """Per-VC frame counts as a framer would assign them (132.0 §4.1.2.5)."""
    out = np.empty(len(vcids), dtype=np.int64)
    for i, v in enumerate(vcids.tolist()):
        out[i] = counters.get(v, 0) % modulus
        counters[v] = counters.get(v, 0) + 1
    return out


def test_packet_builder_matches_reference_vector() -> None:
    # Space packet (133.0 §4.1): APID 11, unsegmented, data "hello".
    assert make_packet(11, b"hello") == bytes.fromhex("000BC000000468656C6C6F")


def test_fhp_constants_are_the_132_values() -> None:
    # 132.0 §4.1.2.7: 0x7FF no packet starts, 0x7FE idle data only.
    assert (FHP_NO_PACKET_START, FHP_IDLE) == (0x7FF, 0x7FE)


# --- round trip -----------------------------------------------------------------

push_step = st.tuples(
    st.sampled_from([0, 1, 5]),  # vcid
    st.lists(st.integers(7, 3000), min_size=1, max_size=6),  # packet lengths
    st.sampled_from(["bytes", "list", "array"]),  # push form
    st.integers(0, 8),  # frames to pull after this push
)


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(push_step, min_size=1, max_size=12),
    zone_length=st.sampled_from([1, 6, 7, 64, 223, 1109]),
    idle=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_push_sequence_round_trips_per_vc(
    steps: list[tuple[int, list[int], str, int]], zone_length: int, idle: bool, seed: int
) -> None:
    rng = random.Random(seed)
    channels = [VirtualChannelConfig(0, 1), VirtualChannelConfig(1, 1), VirtualChannelConfig(5, 3)]
    mux = VirtualChannelMultiplexer(zone_length, channels, idle_vcid=63)
    demux = PacketDemultiplexer(idle_vcid=63)
    sent: dict[int, list[bytes]] = {0: [], 1: [], 5: []}
    zone_streams: dict[int, list[np.ndarray]] = {0: [], 1: [], 5: []}
    fhps_by_vc: dict[int, list[int]] = {0: [], 1: [], 5: []}
    received: list[tuple[int, bytes]] = []
    counters: dict[int, int] = {}
    started = 0

    def deliver(batch: MuxBatch) -> None:
        nonlocal started
        started += batch.packets_started
        assert np.all(batch.first_header_pointers[batch.idle] == FHP_IDLE)
        assert np.all(batch.vcids[batch.idle] == 63)
        assert not np.any(batch.first_header_pointers[~batch.idle] == FHP_IDLE)
        for v in (0, 1, 5):
            rows = (batch.vcids == v) & ~batch.idle
            zone_streams[v].append(batch.zones[rows])
            fhps_by_vc[v].extend(batch.first_header_pointers[rows].tolist())
        counts = vc_counts_for(batch.vcids, counters)
        received.extend(demux.feed(batch.vcids, counts, batch.first_header_pointers, batch.zones))

    for seq, (vcid, lengths, form, frames) in enumerate(steps):
        if form == "array":
            lengths = [lengths[0]] * len(lengths)
        packets = [random_packet(rng, n, seq) for n in lengths]
        sent[vcid].extend(packets)
        if form == "bytes":
            mux.push(vcid, b"".join(packets))
        elif form == "list":
            mux.push(vcid, packets)
        else:
            mux.push(vcid, np.frombuffer(b"".join(packets), np.uint8).reshape(len(packets), -1))
        batch = mux.pull(frames, idle=idle)
        assert len(batch) == frames if idle else len(batch) <= frames
        deliver(batch)
    while mux.pending_bytes():
        deliver(
            mux.pull(rng.randint(1, 50) + mux.full_frames_available() // 2, flush=True, idle=idle)
        )

    assert started == sum(len(p) for p in sent.values())
    for v in (0, 1, 5):
        stream = np.concatenate(zone_streams[v]).tobytes() if zone_streams[v] else b""
        # The flush rule completes the last zone with idle packets only.
        assert stream[: sum(map(len, sent[v]))] == b"".join(sent[v])
        assert fhps_by_vc[v] == reference_fhps(stream, zone_length)
        tm = [p for (vc, p) in received if vc == v and apid_of(p) != IDLE_APID]
        assert tm == sent[v]
    assert all(vc in (0, 1, 5) for vc, _ in received)
    assert demux.counters["packets"] == sum(len(p) for p in sent.values())
    for key in ("vc_count_gaps", "fhp_mismatches", "dropped_bytes", "dropped_partial_packets"):
        assert demux.counters[key] == 0, key


@settings(max_examples=100, deadline=None)
@given(
    lengths=st.lists(st.integers(7, 3000), min_size=1, max_size=40),
    cuts=st.lists(st.integers(1, 30), min_size=1, max_size=20),
    seed=st.integers(0, 2**32 - 1),
)
def test_stream_split_into_random_batches_gives_same_packets(
    lengths: list[int], cuts: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    packets = [random_packet(rng, n, i) for i, n in enumerate(lengths)]
    mux = VirtualChannelMultiplexer(1109, [VirtualChannelConfig(2)], idle_vcid=7)
    mux.push(2, packets)
    batch = mux.pull(mux.full_frames_available() + 2, flush=True, idle=False)
    counts = np.arange(len(batch)) % 256
    whole = PacketDemultiplexer().feed(
        batch.vcids, counts, batch.first_header_pointers, batch.zones
    )
    split = PacketDemultiplexer()
    pieces: list[tuple[int, bytes]] = []
    i, k = 0, 0
    while i < len(batch):
        j = min(len(batch), i + cuts[k % len(cuts)])
        pieces += split.feed(
            batch.vcids[i:j], counts[i:j], batch.first_header_pointers[i:j], batch.zones[i:j]
        )
        i, k = j, k + 1
    assert pieces == whole
    assert [p for _, p in whole if apid_of(p) != IDLE_APID] == packets


@settings(max_examples=100, deadline=None)
@given(
    lengths=st.lists(st.integers(7, 3000), min_size=2, max_size=30),
    drop=st.integers(0, 10_000),
    seed=st.integers(0, 2**32 - 1),
)
def test_dropped_frame_loses_only_the_packets_it_touched(
    lengths: list[int], drop: int, seed: int
) -> None:
    rng = random.Random(seed)
    zone_length = 223
    packets = [random_packet(rng, n, i) for i, n in enumerate(lengths)]
    mux = VirtualChannelMultiplexer(zone_length, [VirtualChannelConfig(0)], idle_vcid=7)
    mux.push(0, packets)
    batch = mux.pull(10_000, flush=True, idle=False)
    n = len(batch)
    drop %= n
    keep = np.arange(n) != drop
    demux = PacketDemultiplexer(idle_vcid=7)
    got = demux.feed(
        batch.vcids[keep],
        (np.arange(n) % 256)[keep],
        batch.first_header_pointers[keep],
        batch.zones[keep],
    )
    lo, hi = drop * zone_length, (drop + 1) * zone_length  # bytes lost with the frame
    expected, offset = [], 0
    for p in packets:
        if offset + len(p) <= lo or offset >= hi:
            expected.append(p)
        offset += len(p)
    assert [p for _, p in got if apid_of(p) != IDLE_APID] == expected
    # A lost first or last frame leaves no hole between two received counts.
    assert demux.counters["vc_count_gaps"] == (1 if 0 < drop < n - 1 else 0)
    assert demux.counters["fhp_mismatches"] == 0
    assert demux.counters["dropped_partial_packets"] <= 1


def test_wrong_fhp_is_counted_and_the_pointer_wins() -> None:
    rng = random.Random(7)
    packets = [random_packet(rng, 100, i) for i in range(40)]  # 100-byte packets, 64-byte zones
    mux = VirtualChannelMultiplexer(64, [VirtualChannelConfig(0)], idle_vcid=7)
    mux.push(0, packets)
    batch = mux.pull(10_000, flush=True, idle=False)
    fhps = batch.first_header_pointers.copy()
    # Zone 10 covers bytes 640..703; packet 7 starts at 700 (FHP 60). Point it at 36 instead
    # (inside packet 6), so the receiver must abandon packet 6 and resync at the pointer.
    assert fhps[10] == 60
    fhps[10] = 36
    demux = PacketDemultiplexer()
    got = demux.feed(batch.vcids, np.arange(len(batch)), fhps, batch.zones)
    tm = [p for _, p in got if apid_of(p) != IDLE_APID]
    assert demux.counters["fhp_mismatches"] >= 1
    assert tm[:6] == packets[:6]
    # Packet 6 is cut by the pointer; packet 7 (starting at 700) is never pointed at, since
    # the receiver resynchronised at 676 inside packet 6, and zone 11 has no start. The next
    # correct pointer is zone 12's (-> 800, packet 8): from there on everything is recovered.
    assert packets[6] not in tm and packets[7] not in tm
    assert tm[-32:] == packets[8:]
    assert demux.counters["dropped_partial_packets"] >= 1


def test_idle_frames_carry_no_packets() -> None:
    rng = random.Random(3)
    packets = [random_packet(rng, 500, i) for i in range(5)]
    mux = VirtualChannelMultiplexer(300, [VirtualChannelConfig(0)], idle_vcid=0)
    mux.push(0, packets)
    # Idle frames on the data VC itself (TM OID frames): FHP 0x7FE marks them.
    first = mux.pull(3)
    rest = mux.pull(20, flush=True)
    batch = [first, rest]
    demux = PacketDemultiplexer(idle_vcid=None)
    counters: dict[int, int] = {}
    got = []
    for b in batch:
        assert np.all(b.first_header_pointers[b.idle] == FHP_IDLE)
        assert np.all(b.zones[b.idle] == b.zones[b.idle][:1])  # a constant idle pattern
        got += demux.feed(
            b.vcids, vc_counts_for(b.vcids, counters), b.first_header_pointers, b.zones
        )
    assert [p for _, p in got if apid_of(p) != IDLE_APID] == packets
    assert demux.counters["vc_count_gaps"] == 0


def test_flush_with_fewer_than_7_free_bytes_spans_the_idle_packet() -> None:
    mux = VirtualChannelMultiplexer(20, [VirtualChannelConfig(1)], idle_vcid=63)
    mux.push(1, make_packet(5, bytes(11)))  # 17 bytes: 3 free in the zone, too few for a packet
    batch = mux.pull(1, flush=True)
    assert len(batch) == 1 and batch.first_header_pointers.tolist() == [0]
    assert mux.pending_bytes(1) == 20  # the rest of the idle packet waits as a full zone
    tail = mux.pull(1)
    assert tail.vcids.tolist() == [1] and tail.first_header_pointers.tolist() == [0x7FF]
    stream = batch.zones.tobytes() + tail.zones.tobytes()
    idle = stream[17:]
    # 133.0: idle packet, APID 0x7FF, length field = octets - 1 of data.
    assert apid_of(idle) == IDLE_APID and (idle[4] << 8 | idle[5]) + 7 == len(idle) == 23
    got = PacketDemultiplexer().feed(
        [1, 1], [0, 1], [0, 0x7FF], np.vstack([batch.zones, tail.zones])
    )
    assert [p for _, p in got] == [stream[:17], idle]


def test_high_priority_backlog_goes_first() -> None:
    channels = [
        VirtualChannelConfig(0, priority=0),
        VirtualChannelConfig(3, priority=9),
        VirtualChannelConfig(2, priority=0),
    ]
    mux = VirtualChannelMultiplexer(100, channels, idle_vcid=63)
    packet = make_packet(1, bytes(94))  # exactly one zone
    mux.push(0, [packet] * 4)
    mux.push(2, [packet] * 4)
    mux.push(3, [packet] * 3)
    assert mux.full_frames_available() == 11
    assert mux.pull(5).vcids.tolist() == [3, 3, 3, 0, 0]  # strict priority, then lower vcid
    assert mux.pull(8).vcids.tolist() == [0, 0, 2, 2, 2, 2, 63, 63]


# --- misuse and garbage ----------------------------------------------------------


def test_bad_arguments_raise_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError):
        VirtualChannelMultiplexer(0, [VirtualChannelConfig(0)], idle_vcid=63)
    with pytest.raises(LocalProtocolError):
        VirtualChannelMultiplexer(0x7FF, [VirtualChannelConfig(0)], idle_vcid=63)
    with pytest.raises(LocalProtocolError):
        VirtualChannelMultiplexer(
            100, [VirtualChannelConfig(0), VirtualChannelConfig(0)], idle_vcid=63
        )
    with pytest.raises(LocalProtocolError):
        VirtualChannelConfig(64)
    mux = VirtualChannelMultiplexer(100, [VirtualChannelConfig(0)], idle_vcid=63)
    good = make_packet(1, b"x")
    for vcid, packets in [
        (4, good),  # unknown vcid
        (0, [good, good[:6]]),  # a 6-byte packet
        (0, good + good[:5]),  # stream ending in a truncated header
        (0, good[:-1]),  # length field says more than there is
        (0, [good + b"y"]),  # length field disagrees with the item
        (0, np.zeros((3, 6), np.uint8)),  # rows shorter than a packet
        (0, np.zeros((3, 8), np.uint8)),  # length fields say 7, rows are 8
        (0, np.zeros((3, 7), np.int32)),  # not bytes
    ]:
        with pytest.raises(LocalProtocolError):
            mux.push(vcid, packets)
    assert mux.pending_bytes() == 0  # a rejected push queues nothing
    with pytest.raises(LocalProtocolError):
        mux.pending_bytes(9)
    with pytest.raises(LocalProtocolError):
        mux.pull(-1)
    demux = PacketDemultiplexer()
    zones = np.zeros((2, 10), np.uint8)
    for args in [
        ([0], [0, 1], [0, 0], zones),  # length mismatch
        ([0, 0], [0, 256], [0, 0], zones),  # count beyond the modulus
        ([0, 0], [0, 1], [0, 0x800], zones),  # FHP is 11 bits
        ([0, 64], [0, 1], [0, 0], zones),  # VCID is at most 6 bits
        ([0, 0], [0, 1], [0, 0], zones.astype(np.int16)),
    ]:
        with pytest.raises(LocalProtocolError):
            demux.feed(*args)


@settings(max_examples=100, deadline=None)
@given(
    frames=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 3),  # few distinct counts, so runs without gaps occur
            st.one_of(st.integers(0, 45), st.sampled_from([0x7FE, 0x7FF]), st.integers(0, 0x7FF)),
            st.binary(min_size=40, max_size=40),
        ),
        min_size=1,
        max_size=30,
    ),
    max_packet_length=st.sampled_from([7, 100, 65542]),
)
def test_garbage_zones_never_raise_and_are_counted(
    frames: list[tuple[int, int, int, bytes]], max_packet_length: int
) -> None:
    demux = PacketDemultiplexer(max_packet_length=max_packet_length)
    vcids, counts, fhps, data = zip(*frames, strict=True)
    zones = np.frombuffer(b"".join(data), np.uint8).reshape(len(frames), 40)
    got = demux.feed(list(vcids), list(counts), list(fhps), zones)
    assert demux.counters["frames"] == len(frames)
    for _, packet in got:
        assert packet[0] & 0xE0 == 0  # 133.0 version 000
        assert (packet[4] << 8 | packet[5]) + 7 == len(packet) <= max_packet_length
    assert demux.counters["packets"] + demux.counters["idle_packets"] == len(got)
    # Every received byte is either delivered, still pending, or counted as dropped.
    data_bytes = sum(40 for _, _, f, _ in frames if f != FHP_IDLE)
    pending = sum(demux.pending_bytes(v) for v in range(4))
    assert sum(len(p) for _, p in got) + pending + demux.counters["dropped_bytes"] == data_bytes


# --- through real TM frames (132.0) ----------------------------------------------


def test_through_tm_frames_a_crc_failure_costs_only_the_packets_it_touched() -> None:
    from lunar_hil.emulator.ccsds.tm import TmFramer, decode_tm_frames

    rng = random.Random(11)
    framer = TmFramer(0x2A, 1115, ocf=False, fecf=True)
    zone_length = framer.data_field_length
    mux = VirtualChannelMultiplexer(
        zone_length, [VirtualChannelConfig(1), VirtualChannelConfig(2, 1)], idle_vcid=7
    )
    sent = {1: [random_packet(rng, rng.randint(100, 4000), i) for i in range(30)]}
    sent[2] = [random_packet(rng, 1024, i) for i in range(30)]
    for v, packets in sent.items():
        mux.push(v, packets)
    batch = mux.pull(mux.full_frames_available() + 5, flush=True)
    frames = framer.frame(batch.vcids, batch.first_header_pointers, batch.zones)
    victim = int(np.flatnonzero(batch.vcids == 1)[10])
    frames[victim, 500] ^= 0x01  # one bit error: the FECF rejects the whole frame
    decoded = decode_tm_frames(frames)
    ok = decoded.crc_ok
    assert ok.tolist().count(False) == 1
    demux = PacketDemultiplexer(idle_vcid=7)
    got = demux.feed(
        decoded.vcid[ok],
        decoded.vc_count[ok],
        decoded.first_header_pointer[ok],
        decoded.data_fields[ok],
    )
    assert demux.counters["vc_count_gaps"] == 1
    assert [p for vc, p in got if vc == 2 and apid_of(p) != IDLE_APID] == sent[2]
    # On VC 1 the lost zone is the 11th: bytes 10*L .. 11*L of that VC's stream.
    lo, hi = 10 * zone_length, 11 * zone_length
    expected, offset = [], 0
    for p in sent[1]:
        if offset + len(p) <= lo or offset >= hi:
            expected.append(p)
        offset += len(p)
    assert [p for vc, p in got if vc == 1 and apid_of(p) != IDLE_APID] == expected


@settings(max_examples=100, deadline=None)
@given(
    lengths=st.lists(st.integers(7, 600), min_size=1, max_size=30),
    byte_hits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=5),
    fhp_hits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 0x7FF)), max_size=3),
    count_hits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=2),
    seed=st.integers(0, 2**32 - 1),
)
def test_damaged_valid_stream_never_raises_and_accounts_for_every_byte(
    lengths: list[int],
    byte_hits: list[tuple[int, int]],
    fhp_hits: list[tuple[int, int]],
    count_hits: list[tuple[int, int]],
    seed: int,
) -> None:
    """Near-valid input (a real mux stream with damaged bytes, FHPs and counts)."""
    rng = random.Random(seed)
    mux = VirtualChannelMultiplexer(
        50, [VirtualChannelConfig(0), VirtualChannelConfig(1)], idle_vcid=9
    )
    sent = [random_packet(rng, n, i) for i, n in enumerate(lengths)]
    for i, packet in enumerate(sent):
        mux.push(i % 2, packet)
    batch = mux.pull(mux.full_frames_available() + 4, flush=True)

    zones = batch.zones.copy()
    fhps = batch.first_header_pointers.astype(np.int64)
    counts = vc_counts_for(batch.vcids, {})
    for where, xor in byte_hits:
        zones.reshape(-1)[where % zones.size] ^= xor
    for where, value in fhp_hits:
        fhps[where % fhps.size] = value
    for where, value in count_hits:
        counts[where % counts.size] = value
    demux = PacketDemultiplexer(idle_vcid=9)
    got = demux.feed(batch.vcids, counts, fhps, zones)
    for _, packet in got:
        assert (packet[4] << 8 | packet[5]) + 7 == len(packet)
    data_bytes = zones.shape[1] * int(np.count_nonzero((fhps != FHP_IDLE) & (batch.vcids != 9)))
    pending = demux.pending_bytes(0) + demux.pending_bytes(1)
    assert sum(len(p) for _, p in got) + pending + demux.counters["dropped_bytes"] == data_bytes
    if not (byte_hits or fhp_hits or count_hits):
        for v in (0, 1):
            assert [p for vc, p in got if vc == v and apid_of(p) != IDLE_APID] == sent[v::2]


@pytest.mark.parametrize("modulus", [256, 1 << 24])  # TM 8-bit (132.0 §4.1.2.5), AOS 24-bit
def test_vc_count_wraps_at_the_modulus_without_a_gap(modulus: int) -> None:
    rng = random.Random(5)
    packets = [random_packet(rng, 300, i) for i in range(20)]
    mux = VirtualChannelMultiplexer(100, [VirtualChannelConfig(0)], idle_vcid=63)
    mux.push(0, packets)
    batch = mux.pull(100, flush=True, idle=False)
    counts = (modulus - 5 + np.arange(len(batch))) % modulus
    demux = PacketDemultiplexer(vc_count_modulus=modulus)
    got = demux.feed(batch.vcids, counts, batch.first_header_pointers, batch.zones)
    assert [p for _, p in got if apid_of(p) != IDLE_APID] == packets
    assert demux.counters["vc_count_gaps"] == 0
    # The same stream with the count of frame 10 repeated is a discontinuity.
    counts[10:] -= 1
    demux = PacketDemultiplexer(vc_count_modulus=modulus)
    demux.feed(batch.vcids, counts % modulus, batch.first_header_pointers, batch.zones)
    assert demux.counters["vc_count_gaps"] == 1


def test_through_aos_frames_with_idle_vc_63() -> None:
    from lunar_hil.emulator.ccsds.aos import IDLE_VCID, AosFramer, decode_aos_frames

    rng = random.Random(13)
    framer = AosFramer(0x42, 1115, ocf=False, fecf=True)
    zone_length = framer.data_field_length - 2  # after the M_PDU header (732.0 §4.1.4.2)
    mux = VirtualChannelMultiplexer(
        zone_length, [VirtualChannelConfig(0), VirtualChannelConfig(40)], idle_vcid=IDLE_VCID
    )
    sent = {v: [random_packet(rng, rng.randint(7, 3000), i) for i in range(25)] for v in (0, 40)}
    demux = PacketDemultiplexer(vc_count_modulus=1 << 24, idle_vcid=IDLE_VCID)
    got: list[tuple[int, bytes]] = []
    idle_frames = 0
    for i in range(25):
        for v in (0, 40):
            mux.push(v, sent[v][i])
        batch = mux.pull(3, flush=i == 24)
        idle_frames += int(np.count_nonzero(batch.idle))
        decoded = decode_aos_frames(
            framer.frame(batch.vcids, batch.first_header_pointers, batch.zones), ocf=False
        )
        assert decoded.crc_ok.all()
        got += demux.feed(
            decoded.vcid, decoded.vc_count, decoded.first_header_pointer, decoded.packet_zones
        )
    while mux.pending_bytes():
        batch = mux.pull(4, flush=True, idle=False)
        decoded = decode_aos_frames(
            framer.frame(batch.vcids, batch.first_header_pointers, batch.zones), ocf=False
        )
        got += demux.feed(
            decoded.vcid, decoded.vc_count, decoded.first_header_pointer, decoded.packet_zones
        )
    assert idle_frames > 0
    for v in (0, 40):
        assert [p for vc, p in got if vc == v and apid_of(p) != IDLE_APID] == sent[v]
    assert demux.counters["vc_count_gaps"] == demux.counters["fhp_mismatches"] == 0

"""Packet demultiplexer: packet zones of received frames -> space packets, per VC.

The inverse of :mod:`emulator.ccsds.mux`. Frames that passed their CRC/RS check
are fed in arrival order as arrays (VCID, VC frame count, First Header Pointer,
packet zone). Per VC, the zones are concatenated and the packet headers walked
(one Python step per packet, never per byte); packets that span frames are
reassembled across calls.

Link noise is data, never an exception:

- a VC frame count gap (132.0 §4.1.2.5, 732.0 §4.1.2.4) drops the packet in
  progress and the receiver resynchronises on the next zone's FHP
  (132.0 §4.1.2.7.3);
- an FHP that disagrees with the packet boundaries found by walking the length
  fields is counted, and the FHP wins: the packet in progress is dropped and the
  walk restarts at the pointer;
- a header that cannot be a space packet (version not 000, 133.0 §4.1.3.2, or
  longer than ``max_packet_length``) is counted and skipped up to the next FHP;
- zones on ``idle_vcid`` or with FHP 0x7FE (idle data only) carry no packets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import LocalProtocolError
from .packets import IDLE_APID, MAX_PACKET_LENGTH, PRIMARY_HEADER_LENGTH, apids_at
from .tm import FHP_IDLE, FHP_NO_PACKET_START

__all__ = ["COUNTER_NAMES", "PacketDemultiplexer"]

_HEADER_LENGTH: Final = PRIMARY_HEADER_LENGTH  # 133.0 §4.1.3
_MIN_PACKET_LENGTH: Final = PRIMARY_HEADER_LENGTH + 1
_MAX_VCID: Final = 63

COUNTER_NAMES: Final = (
    "frames",  # every frame fed, idle ones included
    "packets",  # complete telemetry packets returned (idle packets excluded)
    "idle_packets",  # complete idle packets (APID 0x7FF) returned
    "vc_count_gaps",  # discontinuities of a VC's frame count
    "fhp_mismatches",  # FHPs that disagreed with the walked packet boundaries
    "invalid_headers",  # packet headers with version != 000 or too long a length
    "dropped_partial_packets",  # packets begun but abandoned (gap, mismatch, bad header)
    "dropped_bytes",  # received zone bytes not delivered in any packet
)


@dataclass
class _Reassembly:
    """Per-VC state: the expected next VC count and the packet in progress."""

    last_count: int | None = None
    synced: bool = False
    # Bytes of the packet in progress (header possibly incomplete); only when synced.
    partial: bytes = field(default=b"")


@dataclass
class _Walk:
    """Result of walking length fields from ``origin``."""

    starts: list[int]  # starts of complete packets; they tile [origin, end)
    end: int  # end of the last complete packet (== origin if none)
    tail: int | None  # start of the incomplete or invalid packet after them
    invalid: bool  # tail holds a header that cannot be a space packet


def _walk(data: bytes, origin: int, max_length: int) -> _Walk:
    """Follow packet length fields (133.0 §4.1.3.5) from ``origin``: one step per packet."""
    n = len(data)
    starts: list[int] = []
    append = starts.append  # this loop is the demux hot path: keep lookups local
    p = origin
    last_header = n - _HEADER_LENGTH
    while p <= last_header:
        # 133.0 §4.1.3.2: the version number is 000; anything else is not a space packet.
        length = ((data[p + 4] << 8) | data[p + 5]) + 7
        if data[p] & 0xE0 or length > max_length:
            return _Walk(starts, p, p, True)
        if p + length > n:
            return _Walk(starts, p, p, False)
        append(p)
        p += length
    return _Walk(starts, p, p if p < n else None, False)


class PacketDemultiplexer:
    """Reassembles space packets from the packet zones of received frames, per VC.

    ``vc_count_modulus`` is 256 for TM (8-bit VC count, 132.0 §4.1.2.5) and
    2**24 for AOS (732.0 §4.1.2.4). ``counters`` holds the keys in
    :data:`COUNTER_NAMES`; ``packets`` excludes idle packets.
    """

    def __init__(
        self,
        *,
        vc_count_modulus: int = 256,
        idle_vcid: int | None = None,
        max_packet_length: int = MAX_PACKET_LENGTH,
    ) -> None:
        if not 2 <= vc_count_modulus <= 1 << 32:
            raise LocalProtocolError(f"vc_count_modulus {vc_count_modulus} out of range 2..2**32")
        if idle_vcid is not None and not 0 <= idle_vcid <= _MAX_VCID:
            raise LocalProtocolError(f"idle_vcid {idle_vcid} out of range 0..{_MAX_VCID}")
        if not _MIN_PACKET_LENGTH <= max_packet_length <= MAX_PACKET_LENGTH:
            raise LocalProtocolError(
                f"max_packet_length {max_packet_length} out of range "
                f"{_MIN_PACKET_LENGTH}..{MAX_PACKET_LENGTH}"
            )
        self.vc_count_modulus = int(vc_count_modulus)
        self.idle_vcid = idle_vcid
        self.max_packet_length = int(max_packet_length)
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self._states: dict[int, _Reassembly] = {}

    def pending_bytes(self, vcid: int) -> int:
        """Bytes of the packet in progress on ``vcid`` (0 if none)."""
        state = self._states.get(vcid)
        return len(state.partial) if state else 0

    def feed(
        self,
        vcids: npt.ArrayLike,
        vc_counts: npt.ArrayLike,
        first_header_pointers: npt.ArrayLike,
        zones: npt.ArrayLike,
    ) -> list[tuple[int, bytes]]:
        """Feed N received frames in arrival order; return the packets they complete.

        ``vcids``, ``vc_counts`` and ``first_header_pointers`` (11-bit) are (N,)
        and ``zones`` is (N, zone_length) uint8. Returns ``(vcid, packet)`` in
        completion order, idle packets included so the caller can count them.
        Raises LocalProtocolError only for misuse (shapes, out-of-range fields);
        garbage zone contents are counted, never raised.
        """
        vc, counts, fhps, zone_array = self._check_arrays(
            vcids, vc_counts, first_header_pointers, zones
        )
        n = vc.size
        self.counters["frames"] += n
        if n == 0:
            return []
        carries_data = fhps != FHP_IDLE
        if self.idle_vcid is not None:
            carries_data &= vc != self.idle_vcid
        done_frames: list[npt.NDArray[np.int64]] = []
        done_packets: list[tuple[int, bytes]] = []
        present = sorted(set(vc.tolist()))
        for v in present:
            if v == self.idle_vcid:
                continue
            rows = np.arange(n) if len(present) == 1 else np.flatnonzero(vc == v)
            state = self._states.setdefault(v, _Reassembly())
            vc_counts_here = counts[rows]
            previous = np.empty_like(vc_counts_here)
            previous[1:] = vc_counts_here[:-1]
            previous[0] = vc_counts_here[0] - 1 if state.last_count is None else state.last_count
            gaps = vc_counts_here != (previous + 1) % self.vc_count_modulus
            state.last_count = int(vc_counts_here[-1])
            cuts = np.flatnonzero(gaps).tolist()
            bounds = [0, *[c for c in cuts if c > 0], rows.size]
            if cuts and cuts[0] == 0:
                self._lose_sync(state)
                self.counters["vc_count_gaps"] += 1
            for i in range(len(bounds) - 1):
                if i > 0:
                    self._lose_sync(state)
                    self.counters["vc_count_gaps"] += 1
                run = rows[bounds[i] : bounds[i + 1]]
                run = run[carries_data[run]]
                if run.size:
                    self._reassemble(v, state, run, fhps, zone_array, done_frames, done_packets)
        if not done_packets:
            return []
        # Per VC the packets are already in order; a stable sort on the frame that
        # completed each packet restores arrival order across VCs.
        order = np.argsort(np.concatenate(done_frames), kind="stable")
        return [done_packets[i] for i in order.tolist()]

    def _check_arrays(
        self,
        vcids: npt.ArrayLike,
        vc_counts: npt.ArrayLike,
        first_header_pointers: npt.ArrayLike,
        zones: npt.ArrayLike,
    ) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8]
    ]:
        def as_ints(name: str, value: npt.ArrayLike, upper: int) -> npt.NDArray[np.int64]:
            arr = np.asarray(value)
            if arr.ndim == 0:
                arr = arr.reshape(1)
            if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
                raise LocalProtocolError(
                    f"{name} must be a 1-D integer array, got {arr.dtype}{arr.shape}"
                )
            # One reduction per check: frame decoders hand over unsigned arrays.
            if arr.size and (
                (arr.dtype.kind == "i" and int(arr.min()) < 0) or int(arr.max()) > upper
            ):
                raise LocalProtocolError(f"{name} out of range 0..{upper}")
            return arr.astype(np.int64, copy=False)

        vc = as_ints("vcids", vcids, _MAX_VCID)
        counts = as_ints("vc_counts", vc_counts, self.vc_count_modulus - 1)
        fhps = as_ints("first_header_pointers", first_header_pointers, 0x7FF)
        zone_array = np.asarray(zones)
        if zone_array.ndim == 1:
            zone_array = zone_array[np.newaxis, :]
        if zone_array.ndim != 2 or zone_array.dtype != np.uint8:
            raise LocalProtocolError(
                f"zones must be an (N, L) uint8 array, got {zone_array.dtype}{zone_array.shape}"
            )
        if not vc.size == counts.size == fhps.size == zone_array.shape[0]:
            raise LocalProtocolError(
                f"frame count mismatch: {vc.size} vcids, {counts.size} vc_counts, "
                f"{fhps.size} FHPs, {zone_array.shape[0]} zones"
            )
        return vc, counts, fhps, zone_array

    def _lose_sync(self, state: _Reassembly) -> None:
        if state.partial:
            self.counters["dropped_partial_packets"] += 1
            self.counters["dropped_bytes"] += len(state.partial)
        state.partial = b""
        state.synced = False

    def _reassemble(
        self,
        vcid: int,
        state: _Reassembly,
        rows: npt.NDArray[np.int64],
        fhps: npt.NDArray[np.int64],
        zones: npt.NDArray[np.uint8],
        done_frames: list[npt.NDArray[np.int64]],
        done_packets: list[tuple[int, bytes]],
    ) -> None:
        """Reassemble one run of consecutive data zones of one VC (no count gap inside)."""
        zl = zones.shape[1]
        prefix = state.partial if state.synced else b""
        data = prefix + zones[rows].tobytes()
        zone_starts = len(prefix) + np.arange(rows.size, dtype=np.int64) * zl
        declared = fhps[rows]
        usable: list[npt.NDArray[np.int64]] = []  # zones with an in-range FHP, built on demand

        def resync_from(zone: int) -> tuple[int, int] | None:
            """(origin, zone index) of the first zone >= ``zone`` with a usable FHP."""
            if not usable:
                usable.append(np.flatnonzero(declared < zl))
            valid = usable[0]
            k = int(np.searchsorted(valid, zone))
            if k == valid.size:
                return None
            z = int(valid[k])
            return int(zone_starts[z] + declared[z]), z

        start: tuple[int, int] | None = (0, 0) if state.synced else resync_from(0)
        delivered_to = 0  # bytes of ``data`` before this are delivered or counted dropped
        starts_out: list[int] = []
        ends_out: list[int] = []
        while True:
            if start is None:
                # No usable FHP left: everything after the delivered packets is lost.
                self.counters["dropped_bytes"] += len(data) - delivered_to
                state.partial = b""
                state.synced = False
                break
            origin, check_from = start
            self.counters["dropped_bytes"] += origin - delivered_to
            walk = _walk(data, origin, self.max_packet_length)
            walked = np.array(
                walk.starts if walk.tail is None else [*walk.starts, walk.tail], dtype=np.int64
            )
            # Zones past an invalid header cannot be predicted, so they are not checked.
            limit = (
                int(np.searchsorted(zone_starts, walk.tail, side="right"))
                if walk.invalid and walk.tail is not None
                else rows.size
            )
            mismatch = _first_fhp_mismatch(
                walked, zone_starts[check_from:limit], declared[check_from:limit], zl
            )
            if mismatch is not None:
                k = check_from + mismatch
                cut = int(zone_starts[k])
                # Keep the packets that end before the disagreeing zone; the one in
                # progress there is dropped and the FHP wins (132.0 §4.1.2.7.3).
                ends = [*walk.starts[1:], walk.end] if walk.starts else []
                keep = int(np.searchsorted(np.array(ends, dtype=np.int64), cut, side="right"))
                starts_out += walk.starts[:keep]
                ends_out += ends[:keep]
                delivered_to = ends[keep - 1] if keep else origin
                self.counters["fhp_mismatches"] += 1
                self.counters["dropped_partial_packets"] += 1
                # Kept packets end at or before the zone start, so the pointer is never behind them.
                start = resync_from(k) if declared[k] != FHP_NO_PACKET_START else resync_from(k + 1)
                continue
            starts_out += walk.starts
            ends_out += [*walk.starts[1:], walk.end] if walk.starts else []
            delivered_to = walk.end
            if walk.invalid:
                self.counters["invalid_headers"] += 1
                self.counters["dropped_partial_packets"] += 1
                start = resync_from(limit)
                continue
            state.partial = data[walk.end :]
            state.synced = True
            break
        if not starts_out:
            return
        packet_starts = np.array(starts_out, dtype=np.int64)
        packet_ends = np.array(ends_out, dtype=np.int64)
        stream = np.frombuffer(data, np.uint8)
        apids = apids_at(stream, packet_starts)
        idle_count = int(np.count_nonzero(apids == IDLE_APID))
        self.counters["idle_packets"] += idle_count
        self.counters["packets"] += packet_starts.size - idle_count
        last_zone = (packet_ends - 1 - len(prefix)) // zl
        done_frames.append(rows[last_zone])
        done_packets.extend((vcid, data[s:e]) for s, e in zip(starts_out, ends_out, strict=True))


def _first_fhp_mismatch(
    walked: npt.NDArray[np.int64],
    zone_starts: npt.NDArray[np.int64],
    declared: npt.NDArray[np.int64],
    zone_length: int,
) -> int | None:
    """Index of the first zone whose FHP differs from the walked packet starts, or None."""
    if zone_starts.size == 0:
        return None
    expected = np.full(zone_starts.size, FHP_NO_PACKET_START, dtype=np.int64)
    if walked.size:
        idx = np.searchsorted(walked, zone_starts, side="left")
        first = walked[np.minimum(idx, walked.size - 1)]
        has_start = (idx < walked.size) & (first < zone_starts + zone_length)
        expected[has_start] = first[has_start] - zone_starts[has_start]
    bad = np.flatnonzero(expected != declared)
    return int(bad[0]) if bad.size else None

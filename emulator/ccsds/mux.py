"""Virtual-channel multiplexer: per-VC space-packet streams -> fixed-length packet zones.

A transfer frame carries a *packet zone*: the whole data field of a TM frame
(CCSDS 132.0-B §4.1.2.7) or the M_PDU packet zone of an AOS frame, after the
2-byte M_PDU header (CCSDS 732.0-B §4.1.4.2). Packets are laid end to end in a
VC's zones and may span zone boundaries; the First Header Pointer (FHP) of a
zone is the offset of the first packet header that *starts* in it, 0x7FF when
none does, and 0x7FE for a zone of idle data only (132.0 §4.1.2.7.3-4).

The multiplexer is sans-I/O and batch-first: packets go in with :meth:`push`
(bytes, a sequence of bytes, or an (N, L) uint8 array of N packets), and
:meth:`pull` returns a :class:`MuxBatch` of (N, zone_length) zones plus their
VCIDs and FHPs, ready for the TM/AOS framers. Bytes are moved with buffer
copies and FHPs come from ``np.searchsorted`` over packet start offsets; no
Python loop touches individual bytes, and the (N, L) push path does no
per-packet Python work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import LocalProtocolError
from .packets import (
    IDLE_APID,
    IDLE_PATTERN,
    MAX_PACKET_LENGTH,
    PRIMARY_HEADER_LENGTH,
    apids_at,
    idle_packet,
)
from .tm import FHP_IDLE, FHP_NO_PACKET_START

__all__ = [
    "IDLE_ZONE_FILL",
    "MAX_ZONE_LENGTH",
    "MuxBatch",
    "VirtualChannelConfig",
    "VirtualChannelMultiplexer",
]

# The FHP is 11 bits and 0x7FE/0x7FF are reserved (132.0 §4.1.2.7.3-4), so a real
# offset is at most 0x7FD: a zone longer than 0x7FE bytes could need an unencodable
# pointer. (TM and AOS frames are at most 2048 octets anyway, 132.0 §4.1.1.)
MAX_ZONE_LENGTH: Final = 0x7FE
# Idle frames carry the same mission-defined pattern as idle packets (132.0 §4.1.2.7.4
# and 133.0 §4.1.4.2 both leave it to the mission).
IDLE_ZONE_FILL: Final = IDLE_PATTERN

# CCSDS 133.0-B §4.1.3.5.3: packet data length field = data octets - 1, so a packet
# is at least 7 bytes; the layout itself lives in emulator.ccsds.packets.
_MIN_PACKET_LENGTH: Final = PRIMARY_HEADER_LENGTH + 1
_MAX_VCID: Final = 63  # AOS VCIDs are 6 bits (732.0 §4.1.2.3); TM's 3 bits fit inside.


def _idle_fill_length(gap: int, zone_length: int) -> int:
    """Length of the idle packet that completes a zone with ``gap`` free bytes.

    A packet is at least 7 bytes (133.0 §4.1.3.5.3). When fewer than 7 bytes are
    free, the idle packet is lengthened by whole zones until it fits, so it spans
    into the next zone(s), which then start with no packet header (FHP 0x7FF);
    packets spanning zones are legal (132.0 §4.1.2.7.2).
    """
    if gap >= _MIN_PACKET_LENGTH:
        return gap
    extra_zones = -(-(_MIN_PACKET_LENGTH - gap) // zone_length)
    return gap + extra_zones * zone_length


def _check_vcid(vcid: int, what: str = "vcid") -> int:
    if isinstance(vcid, bool) or not isinstance(vcid, int | np.integer):
        raise LocalProtocolError(f"{what} must be an int, got {type(vcid).__name__}")
    if not 0 <= int(vcid) <= _MAX_VCID:
        raise LocalProtocolError(f"{what} {vcid} out of range 0..{_MAX_VCID}")
    return int(vcid)


@dataclass(frozen=True)
class VirtualChannelConfig:
    """One multiplexed virtual channel.

    ``priority``: higher is served first (strict priority; ties by lower vcid).
    """

    vcid: int
    priority: int = 0

    def __post_init__(self) -> None:
        _check_vcid(self.vcid)
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise LocalProtocolError(f"priority must be an int, got {self.priority!r}")


@dataclass(frozen=True)
class MuxBatch:
    """Zones produced by one :meth:`VirtualChannelMultiplexer.pull`, in transmit order.

    ``first_header_pointers`` holds the 11-bit FHP of each zone; ``idle`` marks
    idle (fill) frames, whose FHP is 0x7FE. ``packets_started`` counts telemetry
    packets whose first byte is in this batch (idle packets excluded).
    """

    vcids: npt.NDArray[np.uint8]
    first_header_pointers: npt.NDArray[np.uint16]
    zones: npt.NDArray[np.uint8]
    idle: npt.NDArray[np.bool_]
    packets_started: int

    def __len__(self) -> int:
        return int(self.zones.shape[0])


class _ChannelQueue:
    """Pending bytes of one VC plus the absolute stream offsets of its packet starts."""

    __slots__ = (
        "_new_starts",
        "_new_telemetry",
        "buffer",
        "consumed",
        "partial_telemetry",
        "starts",
        "telemetry",
    )

    def __init__(self) -> None:
        self.buffer = bytearray()
        # Absolute stream offset of buffer[0]: starts are absolute so that
        # consuming bytes never rewrites the start table.
        self.consumed = 0
        self.starts: npt.NDArray[np.int64] = np.empty(0, np.int64)
        self.telemetry: npt.NDArray[np.bool_] = np.empty(0, np.bool_)
        self._new_starts: list[npt.NDArray[np.int64]] = []
        self._new_telemetry: list[npt.NDArray[np.bool_]] = []
        # True while a telemetry packet has been partly pulled (its head sent,
        # its tail still in ``buffer``).
        self.partial_telemetry = False

    def append(
        self,
        data: bytes | bytearray | memoryview,
        relative_starts: npt.NDArray[np.int64],
        apids: npt.NDArray[np.int64],
    ) -> None:
        base = self.consumed + len(self.buffer)
        self.buffer += data
        self._new_starts.append(relative_starts + base)
        self._new_telemetry.append(apids != IDLE_APID)

    def _merge(self) -> None:
        if self._new_starts:
            self.starts = np.concatenate([self.starts, *self._new_starts])
            self.telemetry = np.concatenate([self.telemetry, *self._new_telemetry])
            self._new_starts.clear()
            self._new_telemetry.clear()

    def take(
        self, zone_count: int, zone_length: int, out: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.uint16], int]:
        """Copy the first ``zone_count`` full zones into ``out``; return (FHPs, packets started)."""
        nbytes = zone_count * zone_length
        out[:] = np.frombuffer(self.buffer, np.uint8, count=nbytes).reshape(zone_count, zone_length)
        self._merge()
        starts = self.starts
        bounds = self.consumed + np.arange(zone_count, dtype=np.int64) * zone_length
        fhps = np.full(zone_count, FHP_NO_PACKET_START, dtype=np.uint16)
        if starts.size:
            # 132.0 §4.1.2.7.3: FHP = offset of the *first* header starting in the zone.
            idx = np.searchsorted(starts, bounds, side="left")
            first = starts[np.minimum(idx, starts.size - 1)]
            has_start = (idx < starts.size) & (first < bounds + zone_length)
            fhps[has_start] = (first[has_start] - bounds[has_start]).astype(np.uint16)
        done = int(np.searchsorted(starts, self.consumed + nbytes, side="left"))
        started = int(np.count_nonzero(self.telemetry[:done]))
        if done:
            self.partial_telemetry = bool(self.telemetry[done - 1])
        self.starts = starts[done:]
        self.telemetry = self.telemetry[done:]
        # CPython deletes a bytearray's prefix in O(1) (it moves the start pointer).
        del self.buffer[:nbytes]
        self.consumed += nbytes
        if not self.buffer or (self.starts.size and self.starts[0] == self.consumed):
            self.partial_telemetry = False  # the last started packet ended in this pull
        return fhps, started

    def pending_packets(self) -> int:
        """Telemetry packets with at least one byte not yet pulled."""
        self._merge()
        return int(np.count_nonzero(self.telemetry)) + int(self.partial_telemetry)


def _starts_of_stream(data: bytes | bytearray | memoryview) -> npt.NDArray[np.int64]:
    """Offsets of the packets laid back to back in ``data`` (one step per packet).

    Raises LocalProtocolError unless the packet length fields (133.0 §4.1.3.5)
    tile ``data`` exactly.
    """
    view = memoryview(data).cast("B")
    n = len(view)
    starts: list[int] = []
    p = 0
    while p < n:
        if n - p < _MIN_PACKET_LENGTH:
            raise LocalProtocolError(
                f"packet at byte {p} is shorter than {_MIN_PACKET_LENGTH} bytes ({n - p} left)"
            )
        length = ((view[p + 4] << 8) | view[p + 5]) + _MIN_PACKET_LENGTH
        if p + length > n:
            raise LocalProtocolError(
                f"packet at byte {p} declares {length} bytes but only {n - p} are left"
            )
        starts.append(p)
        p += length
    return np.array(starts, dtype=np.int64)


def _check_length_fields(
    stream: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
) -> None:
    """Every packet's length field must match its size (133.0 §4.1.3.5.3)."""
    declared = ((stream[starts + 4].astype(np.int64) << 8) | stream[starts + 5]) + _MIN_PACKET_LENGTH
    wrong = np.flatnonzero(declared != lengths)
    if wrong.size:
        i = int(wrong[0])
        raise LocalProtocolError(
            f"packet {i} is {int(lengths[i])} bytes but its length field says "
            f"{int(declared[i])} (133.0 §4.1.3.5.3)"
        )


class VirtualChannelMultiplexer:
    """Packs each VC's packet stream into fixed-length packet zones with exact FHPs.

    ``zone_length`` is the packet zone size in bytes (1..0x7FE). ``channels`` are
    the data VCs; ``idle_vcid`` carries idle frames (VCID 63 for AOS, 732.0
    §4.1.2.3; any VCID for TM). It may equal a data VC's id (TM missions often
    send OID frames on VC 0): the FHP 0x7FE marks them either way.

    Flush rule: with ``pull(flush=True)`` a VC's last partial zone is completed
    with one idle packet. When fewer than 7 bytes are free, that idle packet is
    made one zone longer, so it spans into the VC's next zone (FHP 0x7FF there);
    if ``max_frames`` runs out first, the rest of the idle packet stays pending
    as a full zone and goes out in the next pull. A VC's bytes are never lost
    or reordered.
    """

    def __init__(
        self,
        zone_length: int,
        channels: Sequence[VirtualChannelConfig],
        *,
        idle_vcid: int,
    ) -> None:
        if isinstance(zone_length, bool) or not isinstance(zone_length, int | np.integer):
            raise LocalProtocolError(f"zone_length must be an int, got {zone_length!r}")
        if not 1 <= int(zone_length) <= MAX_ZONE_LENGTH:
            raise LocalProtocolError(
                f"zone_length {zone_length} out of range 1..{MAX_ZONE_LENGTH} "
                "(the 11-bit FHP must address every byte, 132.0 §4.1.2.7.3)"
            )
        self.zone_length = int(zone_length)
        self.idle_vcid = _check_vcid(idle_vcid, "idle_vcid")
        configs = list(channels)
        for cfg in configs:
            if not isinstance(cfg, VirtualChannelConfig):
                raise LocalProtocolError(f"channels must be VirtualChannelConfig, got {cfg!r}")
        vcids = [cfg.vcid for cfg in configs]
        if len(set(vcids)) != len(vcids):
            raise LocalProtocolError(f"duplicate vcid in channels: {sorted(vcids)}")
        self.channels: tuple[VirtualChannelConfig, ...] = tuple(
            sorted(configs, key=lambda c: (-c.priority, c.vcid))
        )
        self._queues: dict[int, _ChannelQueue] = {c.vcid: _ChannelQueue() for c in self.channels}
        self._idle_zone = np.full(self.zone_length, IDLE_ZONE_FILL, dtype=np.uint8)

    def _queue(self, vcid: int) -> _ChannelQueue:
        try:
            return self._queues[int(vcid)]
        except (KeyError, TypeError, ValueError):
            raise LocalProtocolError(
                f"unknown vcid {vcid!r}; configured: {sorted(self._queues)}"
            ) from None

    def push(
        self, vcid: int, packets: bytes | bytearray | Sequence[bytes] | npt.NDArray[np.uint8]
    ) -> None:
        """Queue packets on ``vcid``.

        ``packets`` is bytes (packets back to back, split by their length
        fields), a sequence of packets, or an (N, L) uint8 array of N packets of
        L bytes each. Every packet's length field must match its size
        (133.0 §4.1.3.5.3), else LocalProtocolError and nothing is queued.
        """
        queue = self._queue(vcid)
        if isinstance(packets, np.ndarray):
            self._push_array(queue, packets)
            return
        if isinstance(packets, bytes | bytearray | memoryview):
            data = bytes(packets)
            starts = _starts_of_stream(data)
        else:
            items = list(packets)
            lengths = np.fromiter((len(p) for p in items), dtype=np.int64, count=len(items))
            if lengths.size and int(lengths.min()) < _MIN_PACKET_LENGTH:
                bad = int(np.argmin(lengths))
                raise LocalProtocolError(
                    f"packet {bad} is {int(lengths[bad])} bytes, shorter than {_MIN_PACKET_LENGTH}"
                )
            data = b"".join(items)
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            _check_length_fields(np.frombuffer(data, np.uint8), starts, lengths)
        if not data:
            return
        queue.append(data, starts, apids_at(np.frombuffer(data, np.uint8), starts))

    def push_stream(
        self, vcid: int, data: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64]
    ) -> None:
        """Queue packets laid back to back in ``data`` whose offsets the caller knows.

        The fast path for producers that built the stream themselves: instead
        of walking the headers one by one, every length field is checked
        against ``starts`` at once (133.0 §4.1.3.5.3); a mismatch raises
        LocalProtocolError and nothing is queued.
        """
        queue = self._queue(vcid)
        stream = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1)
        offsets = np.asarray(starts, dtype=np.int64).reshape(-1)
        if stream.size == 0 and offsets.size == 0:
            return
        if offsets.size == 0 or offsets[0] != 0 or np.any(np.diff(offsets) <= 0):
            raise LocalProtocolError("starts must begin at 0 and increase strictly")
        lengths = np.diff(np.append(offsets, stream.size))
        if int(lengths.min()) < _MIN_PACKET_LENGTH:
            bad = int(np.argmin(lengths))
            raise LocalProtocolError(
                f"packet {bad} is {int(lengths[bad])} bytes, shorter than {_MIN_PACKET_LENGTH}"
            )
        _check_length_fields(stream, offsets, lengths)
        queue.append(stream.data.cast("B"), offsets, apids_at(stream, offsets))

    def _push_array(self, queue: _ChannelQueue, packets: npt.NDArray[np.uint8]) -> None:
        if packets.dtype != np.uint8:
            raise LocalProtocolError(f"packet array must be uint8, got {packets.dtype}")
        if packets.ndim == 1:
            data = packets.tobytes()
            starts = _starts_of_stream(data)
            if starts.size:
                queue.append(data, starts, apids_at(packets, starts))
            return
        if packets.ndim != 2:
            raise LocalProtocolError(f"packet array must be (N, L), got shape {packets.shape}")
        count, length = packets.shape
        if count == 0:
            return
        if length < _MIN_PACKET_LENGTH or length > MAX_PACKET_LENGTH:
            raise LocalProtocolError(
                f"packets of {length} bytes: a space packet is "
                f"{_MIN_PACKET_LENGTH}..{MAX_PACKET_LENGTH} bytes (133.0 §4.1.3.5.3)"
            )
        declared = ((packets[:, 4].astype(np.int64) << 8) | packets[:, 5]) + _MIN_PACKET_LENGTH
        wrong = np.flatnonzero(declared != length)
        if wrong.size:
            i = int(wrong[0])
            raise LocalProtocolError(
                f"packet row {i} has length field for {int(declared[i])} bytes, rows are {length}"
            )
        starts = np.arange(count, dtype=np.int64) * length
        apids = apids_at(np.ascontiguousarray(packets).reshape(-1), starts)
        queue.append(np.ascontiguousarray(packets).data.cast("B"), starts, apids)

    def pending_bytes(self, vcid: int | None = None) -> int:
        """Bytes queued and not yet pulled, on one VC or (``None``) on all."""
        if vcid is None:
            return sum(len(q.buffer) for q in self._queues.values())
        return len(self._queue(vcid).buffer)

    def pending_packets(self, vcid: int | None = None) -> int:
        """Telemetry packets (idle excluded) not yet completely pulled, on one VC or all.

        A packet whose head went out and whose tail is still queued counts as
        pending: the ground cannot have it yet.
        """
        if vcid is None:
            return sum(q.pending_packets() for q in self._queues.values())
        return self._queue(vcid).pending_packets()

    def take_unsent(self, vcid: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        """Remove and return the packets of ``vcid`` not one byte of which was pulled.

        Returns ``(data, starts)``: the packets back to back and the offset of
        each. What stays queued is the tail of the packet whose head already
        went out (if any), so a ``pull(flush=True)`` completes exactly that
        packet. A band switch hands the rest to the new band's multiplexer.
        """
        queue = self._queue(vcid)
        queue._merge()
        empty = (np.empty(0, np.uint8), np.empty(0, np.int64))
        if not queue.starts.size:
            return empty  # nothing queued, or only the tail of a started packet
        cut = int(queue.starts[0] - queue.consumed)
        data = np.frombuffer(bytes(queue.buffer[cut:]), dtype=np.uint8)
        starts = (queue.starts - queue.starts[0]).astype(np.int64)
        del queue.buffer[cut:]
        queue.starts = np.empty(0, np.int64)
        queue.telemetry = np.empty(0, np.bool_)
        return data, starts

    def full_frames_available(self) -> int:
        """Number of full zones that :meth:`pull` could return without flushing."""
        return sum(len(q.buffer) // self.zone_length for q in self._queues.values())

    def pull_channel(self, vcid: int, zone_count: int) -> MuxBatch:
        """The next ``zone_count`` full zones of one VC, no flush and no idle.

        For callers that plan the cross-VC order themselves (the linked engine
        interleaves many mux periods at once): the zones and FHPs are exactly
        those successive :meth:`pull` calls would give for this VC.
        """
        queue = self._queue(vcid)
        zl = self.zone_length
        n = int(zone_count)
        if not 0 <= n <= len(queue.buffer) // zl:
            raise LocalProtocolError(
                f"vcid {vcid}: {n} zones asked, {len(queue.buffer) // zl} full zones pending"
            )
        zones = np.empty((n, zl), dtype=np.uint8)
        if n:
            fhps, started = queue.take(n, zl, zones)
        else:
            fhps, started = np.empty(0, np.uint16), 0
        return MuxBatch(
            vcids=np.full(n, vcid, dtype=np.uint8),
            first_header_pointers=fhps,
            zones=zones,
            idle=np.zeros(n, dtype=np.bool_),
            packets_started=started,
        )

    def pull(self, max_frames: int, *, flush: bool = False, idle: bool = True) -> MuxBatch:
        """Return up to ``max_frames`` zones.

        Full zones first, VC by VC in priority order (strict priority, ties by
        vcid). With ``flush``, each VC's partial zone is then completed with an
        idle packet (see the class docstring). With ``idle``, the batch is
        topped up to exactly ``max_frames`` with idle frames on ``idle_vcid``
        (FHP 0x7FE, fill 0x55); otherwise fewer frames may come back.
        """
        if isinstance(max_frames, bool) or not isinstance(max_frames, int | np.integer):
            raise LocalProtocolError(f"max_frames must be an int, got {max_frames!r}")
        if max_frames < 0:
            raise LocalProtocolError(f"max_frames must be >= 0, got {max_frames}")
        zl = self.zone_length
        remaining = int(max_frames)
        plan: dict[int, int] = {}
        for cfg in self.channels:
            if remaining == 0:
                break
            n = min(len(self._queues[cfg.vcid].buffer) // zl, remaining)
            if n:
                plan[cfg.vcid] = n
                remaining -= n
        if flush and remaining:
            # Every full zone is already planned, so what is left on a VC is a partial zone.
            for cfg in self.channels:
                if remaining == 0:
                    break
                queue = self._queues[cfg.vcid]
                planned = plan.get(cfg.vcid, 0)
                leftover = len(queue.buffer) - planned * zl
                if leftover <= 0:
                    continue
                fill = idle_packet(_idle_fill_length(zl - leftover, zl))
                queue.append(fill, np.zeros(1, np.int64), np.full(1, IDLE_APID, np.int64))
                n = min(len(queue.buffer) // zl - planned, remaining)
                plan[cfg.vcid] = planned + n
                remaining -= n
        idle_count = remaining if idle else 0
        total = int(max_frames) - remaining + idle_count
        zones = np.empty((total, zl), dtype=np.uint8)
        vcids = np.empty(total, dtype=np.uint8)
        fhps = np.empty(total, dtype=np.uint16)
        is_idle = np.zeros(total, dtype=np.bool_)
        started = 0
        row = 0
        for vcid, n in plan.items():
            f, s = self._queues[vcid].take(n, zl, zones[row : row + n])
            fhps[row : row + n] = f
            vcids[row : row + n] = vcid
            started += s
            row += n
        if idle_count:
            zones[row:] = self._idle_zone
            vcids[row:] = self.idle_vcid
            fhps[row:] = FHP_IDLE
            is_idle[row:] = True
        return MuxBatch(
            vcids=vcids,
            first_header_pointers=fhps,
            zones=zones,
            idle=is_idle,
            packets_started=started,
        )

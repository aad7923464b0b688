"""CCSDS Space Packets (CCSDS 133.0-B-2).

The primary header is 6 octets (133.0-B §4.1.3):

====================  ====  ===========================================
field                 bits  note
====================  ====  ===========================================
version number           3  always 000
packet type              1  0 telemetry, 1 telecommand
secondary header flag    1
APID                    11  0x7FF is the idle packet
sequence flags           2  11 = unsegmented
sequence count          14  per APID, wraps modulo 16384
data length             16  octets in the data field minus one
====================  ====  ===========================================

:class:`SpacePacketHeader` keeps ``data_length`` as the real number of octets of
the data field (1..65536); only :meth:`SpacePacketHeader.pack` writes it minus
one.  Bulk encoding goes through :func:`build_space_packets` over (N, L) arrays;
both share the same bit layout constants below.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "IDLE_APID",
    "IDLE_PATTERN",
    "MAX_DATA_LENGTH",
    "MAX_PACKET_LENGTH",
    "PRIMARY_HEADER_LENGTH",
    "PacketType",
    "SequenceCounter",
    "SequenceFlags",
    "SpacePacket",
    "SpacePacketHeader",
    "apid_of",
    "apids_at",
    "build_space_packets",
    "idle_packet",
    "scan_space_packets",
]

PRIMARY_HEADER_LENGTH: Final = 6
IDLE_APID: Final = 0x7FF
MAX_DATA_LENGTH: Final = 65536
MAX_PACKET_LENGTH: Final = PRIMARY_HEADER_LENGTH + MAX_DATA_LENGTH
# 133.0-B §4.1.4.2: the idle data pattern is mission defined; alternating bits
# keep the link transition density up even without the randomizer.
IDLE_PATTERN: Final = 0x55

# Bit layout of the first two header words (133.0-B §4.1.3).
_VERSION_SHIFT: Final = 13
_TYPE_SHIFT: Final = 12
_SEC_HDR_SHIFT: Final = 11
_APID_MASK: Final = 0x7FF
_SEQ_FLAGS_SHIFT: Final = 14
_SEQ_COUNT_MASK: Final = 0x3FFF
SEQ_COUNT_MODULUS: Final = 1 << 14


def apid_of(packet: bytes | bytearray | memoryview | npt.NDArray[np.uint8]) -> int:
    """APID of one packet: low 3 bits of octet 0 and all of octet 1 (133.0 §4.1.3.3.4)."""
    return ((int(packet[0]) & 0x07) << 8) | int(packet[1])


def apids_at(stream: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """APIDs of the packets starting at ``starts`` in ``stream`` (vectorised :func:`apid_of`).

    For packets in rows of a 2-D array, pass ``rows.reshape(-1)`` and the row offsets.
    """
    return ((stream[starts].astype(np.int64) & 0x07) << 8) | stream[starts + 1]


class PacketType(IntEnum):
    """Packet type bit (133.0-B §4.1.3.3.2)."""

    TM = 0
    TC = 1


class SequenceFlags(IntEnum):
    """Sequence flags (133.0-B §4.1.3.4.2)."""

    CONTINUATION = 0
    FIRST = 1
    LAST = 2
    UNSEGMENTED = 3


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise LocalProtocolError(f"{name} {value} is outside {low}..{high}")


@dataclass(frozen=True)
class SpacePacketHeader:
    """Space packet primary header; ``data_length`` is the data field size in octets."""

    packet_type: PacketType
    apid: int
    seq_count: int
    data_length: int
    sec_header_flag: bool = False
    seq_flags: SequenceFlags = SequenceFlags.UNSEGMENTED

    def __post_init__(self) -> None:
        _check_range("APID", self.apid, 0, _APID_MASK)
        _check_range("sequence count", self.seq_count, 0, _SEQ_COUNT_MASK)
        _check_range("data length", self.data_length, 1, MAX_DATA_LENGTH)
        # Accept plain ints but store the enums so that equality and repr are stable.
        object.__setattr__(self, "packet_type", PacketType(self.packet_type))
        object.__setattr__(self, "seq_flags", SequenceFlags(self.seq_flags))
        object.__setattr__(self, "sec_header_flag", bool(self.sec_header_flag))

    @classmethod
    def tm(
        cls, apid: int, seq_count: int, data_length: int, sec_header_flag: bool = True
    ) -> SpacePacketHeader:
        """An unsegmented telemetry packet header (with a secondary header by default)."""
        return cls(PacketType.TM, apid, seq_count, data_length, sec_header_flag)

    @property
    def packet_length(self) -> int:
        """Total packet length in octets: 6 + data field."""
        return PRIMARY_HEADER_LENGTH + self.data_length

    def pack(self) -> bytes:
        """The 6 header octets."""
        word0 = (
            (int(self.packet_type) << _TYPE_SHIFT)
            | (int(self.sec_header_flag) << _SEC_HDR_SHIFT)
            | self.apid
        )
        word1 = (int(self.seq_flags) << _SEQ_FLAGS_SHIFT) | self.seq_count
        return bytes(
            (
                word0 >> 8,
                word0 & 0xFF,
                word1 >> 8,
                word1 & 0xFF,
                (self.data_length - 1) >> 8,
                (self.data_length - 1) & 0xFF,
            )
        )

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> SpacePacketHeader:
        """Parse the first 6 octets of ``data``; garbage raises RemoteProtocolError."""
        raw = bytes(data[:PRIMARY_HEADER_LENGTH])
        if len(raw) < PRIMARY_HEADER_LENGTH:
            raise RemoteProtocolError(
                f"space packet header needs {PRIMARY_HEADER_LENGTH} octets, got {len(raw)}",
                offset=len(raw),
            )
        word0 = (raw[0] << 8) | raw[1]
        word1 = (raw[2] << 8) | raw[3]
        version = word0 >> _VERSION_SHIFT
        if version != 0:
            raise RemoteProtocolError(f"space packet version {version} is not 0", offset=0)
        return cls(
            packet_type=PacketType((word0 >> _TYPE_SHIFT) & 1),
            apid=word0 & _APID_MASK,
            seq_count=word1 & _SEQ_COUNT_MASK,
            data_length=((raw[4] << 8) | raw[5]) + 1,
            sec_header_flag=bool((word0 >> _SEC_HDR_SHIFT) & 1),
            seq_flags=SequenceFlags(word1 >> _SEQ_FLAGS_SHIFT),
        )


@dataclass(frozen=True)
class SpacePacket:
    """A whole space packet: header plus data field (secondary header included)."""

    header: SpacePacketHeader
    data: bytes = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", bytes(self.data))
        if len(self.data) != self.header.data_length:
            raise LocalProtocolError(
                f"data field has {len(self.data)} octets, header says {self.header.data_length}"
            )

    @property
    def apid(self) -> int:
        """The packet's APID."""
        return self.header.apid

    @property
    def is_idle(self) -> bool:
        """True for idle packets (APID 0x7FF)."""
        return self.header.apid == IDLE_APID

    def pack(self) -> bytes:
        """Header and data octets."""
        return self.header.pack() + self.data

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> SpacePacket:
        """Parse the packet at the start of ``data`` (octets after it are ignored)."""
        header = SpacePacketHeader.unpack(data)
        end = header.packet_length
        if len(data) < end:
            raise RemoteProtocolError(
                f"space packet of {end} octets is truncated to {len(data)}", offset=len(data)
            )
        return cls(header, bytes(data[PRIMARY_HEADER_LENGTH:end]))


def idle_packet(total_length: int, seq_count: int = 0) -> bytes:
    """An idle packet (APID 0x7FF, 133.0-B §4.1.3.3.4.4) of ``total_length`` octets (>= 7)."""
    _check_range("idle packet length", total_length, PRIMARY_HEADER_LENGTH + 1, MAX_PACKET_LENGTH)
    header = SpacePacketHeader(
        PacketType.TM, IDLE_APID, seq_count, total_length - PRIMARY_HEADER_LENGTH
    )
    return header.pack() + bytes((IDLE_PATTERN,)) * header.data_length


def build_space_packets(
    apid: int,
    seq_counts: npt.ArrayLike,
    data: npt.ArrayLike,
    *,
    packet_type: PacketType = PacketType.TM,
    sec_header_flag: bool = True,
    seq_flags: SequenceFlags = SequenceFlags.UNSEGMENTED,
) -> npt.NDArray[np.uint8]:
    """Prefix primary headers to data fields: ``(N, L)`` -> ``(N, 6 + L)``, ``(L,)`` -> ``(6 + L,)``.

    ``data`` already holds any secondary header; ``seq_counts`` is ``(N,)`` or a scalar.
    """
    _check_range("APID", apid, 0, _APID_MASK)
    fields = np.asarray(data)
    if fields.dtype != np.uint8:
        raise LocalProtocolError(f"packet data must be uint8, got {fields.dtype}")
    single = fields.ndim == 1
    if single:
        fields = fields.reshape(1, -1)
    if fields.ndim != 2:
        raise LocalProtocolError(f"packet data must be (L,) or (N, L), got {fields.shape}")
    rows, length = fields.shape
    _check_range("data length", length, 1, MAX_DATA_LENGTH)
    counts = np.asarray(seq_counts)
    if counts.size and (counts.min() < 0 or counts.max() > _SEQ_COUNT_MASK):
        raise LocalProtocolError("sequence counts must be 0..16383")
    counts = np.broadcast_to(counts.astype(np.uint16), (rows,))
    word0 = (int(packet_type) << _TYPE_SHIFT) | (int(sec_header_flag) << _SEC_HDR_SHIFT) | apid
    out = np.empty((rows, PRIMARY_HEADER_LENGTH + length), dtype=np.uint8)
    out[:, 0] = word0 >> 8
    out[:, 1] = word0 & 0xFF
    out[:, 2] = (int(seq_flags) << 6) | (counts >> 8)
    out[:, 3] = counts & 0xFF
    out[:, 4] = (length - 1) >> 8
    out[:, 5] = (length - 1) & 0xFF
    out[:, PRIMARY_HEADER_LENGTH:] = fields
    return out[0] if single else out


class SequenceCounter:
    """Per-APID 14-bit source sequence counts (133.0-B §4.1.3.4.3)."""

    def __init__(self) -> None:
        self._next: dict[int, int] = {}

    def take(self, apid: int, n: int = 1) -> npt.NDArray[np.uint16]:
        """The next ``n`` counts for ``apid``, wrapping modulo 16384."""
        _check_range("APID", apid, 0, _APID_MASK)
        if n < 0:
            raise LocalProtocolError(f"cannot take {n} sequence counts")
        start = self._next.get(apid, 0)
        self._next[apid] = (start + n) % SEQ_COUNT_MODULUS
        return ((start + np.arange(n, dtype=np.int64)) % SEQ_COUNT_MODULUS).astype(np.uint16)

    def peek(self, apid: int) -> int:
        """The count the next packet of ``apid`` will get."""
        return self._next.get(apid, 0)


def scan_space_packets(
    buf: bytes | bytearray | memoryview,
    *,
    max_length: int = MAX_PACKET_LENGTH,
    apids: Collection[int] | None = None,
) -> tuple[list[SpacePacket], list[tuple[int, int]], int]:
    """Find the space packets in a byte stream (after spacepackets-py's parser).

    Returns ``(packets, skipped, consumed)``: ``skipped`` holds half-open
    ``(start, stop)`` byte ranges that did not form a packet header (link noise
    is data, not an exception), and ``consumed`` is how many octets the caller
    may drop; ``buf[consumed:]`` is the start of a packet that is not complete yet.

    A header is accepted when its version is 0, its total length is at most
    ``max_length`` and, if ``apids`` is given, its APID is one of them.  Space
    packets carry no sync marker, so ``apids`` is what makes the scan robust
    against garbage that happens to begin with three zero bits.
    """
    data = bytes(buf)
    wanted = None if apids is None else frozenset(apids)
    packets: list[SpacePacket] = []
    skipped: list[tuple[int, int]] = []
    position = 0
    skip_start: int | None = None
    end = len(data)
    while end - position >= PRIMARY_HEADER_LENGTH:
        first = data[position]
        apid = apid_of(data[position : position + 2])
        total = ((data[position + 4] << 8) | data[position + 5]) + 1 + PRIMARY_HEADER_LENGTH
        plausible = (first >> 5) == 0 and total <= max_length and (wanted is None or apid in wanted)
        if not plausible:
            if skip_start is None:
                skip_start = position
            position += 1
            continue
        if skip_start is not None:
            skipped.append((skip_start, position))
            skip_start = None
        if end - position < total:
            return packets, skipped, position
        packets.append(SpacePacket.unpack(data[position : position + total]))
        position += total
    if skip_start is not None:
        skipped.append((skip_start, position))
    return packets, skipped, position

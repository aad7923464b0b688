"""AOS Transfer Frames (CCSDS 732.0-B-4) carrying M_PDUs.

Frame layout (732.0-B §4.1): primary header (6 octets), [frame header error
control (2 octets)], [insert zone (fixed length per physical channel)],
data field, [OCF (4 octets)], [FECF (2 octets)].

Primary header (§4.1.2):

=========================  ====  ==============================================
field                      bits  note
=========================  ====  ==============================================
version number                2  01
spacecraft ID                 8
virtual channel ID            6  63 = idle (only idle data)
VC frame count               24  per VC, mod 2^24
replay flag                   1  signalling field (§4.1.2.5)
VC frame count usage flag     1  1 = the count cycle below is in use
spare                         2  00
VC frame count cycle          4  extends the count when the usage flag is 1
=========================  ====  ==============================================

The optional frame header error control (FHEC, a RS(10,6) over GF(16) on the
MCID/VCID/signalling field, §4.1.2.6) is **not implemented**: frames are built
without it, and channels that need it cannot be decoded here.

The data field of a packet channel is one M_PDU (§4.1.4.2): a 2-octet header
(5 spare bits 00000, an 11-bit first header pointer with the same meaning as
in TM) followed by the packet zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import LocalProtocolError, RemoteProtocolError
from .crc import crc16_batch
from .tm import (
    FECF_LENGTH,
    OCF_LENGTH,
    _as_fields,
    _assign_channel_counts,
    _check_range,
    _per_frame,
    _write_trailer,
)

__all__ = [
    "AOS_PRIMARY_HEADER_LENGTH",
    "IDLE_VCID",
    "MPDU_HEADER_LENGTH",
    "AosFrameBatch",
    "AosFrameHeader",
    "AosFramer",
    "aos_data_field_length",
    "decode_aos_frames",
    "encode_aos_frames",
]

AOS_PRIMARY_HEADER_LENGTH: Final = 6
MPDU_HEADER_LENGTH: Final = 2
IDLE_VCID: Final = 63
AOS_VERSION: Final = 0b01
VC_COUNT_MODULUS: Final = 1 << 24

_SCID_MAX: Final = 0xFF
_VCID_MAX: Final = 0x3F
_VC_COUNT_MAX: Final = VC_COUNT_MODULUS - 1
_FHP_MASK: Final = 0x7FF


@dataclass(frozen=True)
class AosFrameHeader:
    """AOS transfer frame primary header without FHEC (732.0-B §4.1.2)."""

    scid: int
    vcid: int
    vc_count: int
    replay_flag: bool = False
    vc_count_usage_flag: bool = False
    vc_count_cycle: int = 0

    def __post_init__(self) -> None:
        _check_range("SCID", self.scid, 0, _SCID_MAX)
        _check_range("VCID", self.vcid, 0, _VCID_MAX)
        _check_range("VC frame count", self.vc_count, 0, _VC_COUNT_MAX)
        _check_range("VC frame count cycle", self.vc_count_cycle, 0, 0xF)
        object.__setattr__(self, "replay_flag", bool(self.replay_flag))
        object.__setattr__(self, "vc_count_usage_flag", bool(self.vc_count_usage_flag))

    def pack(self) -> bytes:
        """The 6 header octets."""
        word0 = (AOS_VERSION << 14) | (self.scid << 6) | self.vcid
        signalling = (
            (int(self.replay_flag) << 7)
            | (int(self.vc_count_usage_flag) << 6)
            | self.vc_count_cycle
        )
        return (
            bytes((word0 >> 8, word0 & 0xFF))
            + self.vc_count.to_bytes(3, "big")
            + bytes((signalling,))
        )

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> AosFrameHeader:
        """Parse the first 6 octets; a wrong version or short input raises RemoteProtocolError."""
        raw = bytes(data[:AOS_PRIMARY_HEADER_LENGTH])
        if len(raw) < AOS_PRIMARY_HEADER_LENGTH:
            raise RemoteProtocolError(
                f"AOS frame header needs {AOS_PRIMARY_HEADER_LENGTH} octets, got {len(raw)}",
                offset=len(raw),
            )
        word0 = (raw[0] << 8) | raw[1]
        if word0 >> 14 != AOS_VERSION:
            raise RemoteProtocolError(f"AOS frame version {word0 >> 14} is not 1", offset=0)
        return cls(
            scid=(word0 >> 6) & _SCID_MAX,
            vcid=word0 & _VCID_MAX,
            vc_count=int.from_bytes(raw[2:5], "big"),
            replay_flag=bool(raw[5] & 0x80),
            vc_count_usage_flag=bool(raw[5] & 0x40),
            vc_count_cycle=raw[5] & 0x0F,
        )


def aos_data_field_length(frame_length: int, *, ocf: bool, fecf: bool, insert_zone: int = 0) -> int:
    """Octets of the data field (the M_PDU, its 2-octet header included)."""
    if insert_zone < 0:
        raise LocalProtocolError(f"insert zone length {insert_zone} is negative")
    length = (
        frame_length
        - AOS_PRIMARY_HEADER_LENGTH
        - insert_zone
        - OCF_LENGTH * ocf
        - FECF_LENGTH * fecf
    )
    if length <= MPDU_HEADER_LENGTH:
        raise LocalProtocolError(f"AOS frame length {frame_length} leaves no packet zone")
    return length


def _insert_zones(insert_zone: npt.ArrayLike | None, rows: int) -> npt.NDArray[np.uint8] | None:
    if insert_zone is None:
        return None
    zones = np.asarray(insert_zone)
    if zones.dtype != np.uint8 or zones.ndim not in (1, 2) or zones.shape[-1] == 0:
        raise LocalProtocolError(
            f"insert zones must be uint8 (IZ,) or (N, IZ), got {zones.dtype} {zones.shape}"
        )
    if zones.ndim == 2 and zones.shape[0] != rows:
        raise LocalProtocolError(f"insert zones must have {rows} rows, got {zones.shape[0]}")
    return np.broadcast_to(zones, (rows, zones.shape[-1]))


def encode_aos_frames(
    scid: int,
    vcids: npt.ArrayLike,
    vc_counts: npt.ArrayLike,
    first_header_pointers: npt.ArrayLike,
    packet_zones: npt.ArrayLike,
    *,
    ocf: npt.ArrayLike | None = None,
    fecf: bool = True,
    insert_zone: npt.ArrayLike | None = None,
) -> npt.NDArray[np.uint8]:
    """Build AOS frames carrying one M_PDU each, vectorised over frames.

    Per-frame arguments are ``(N,)`` arrays or scalars; ``packet_zones`` is
    ``(N, Ldf - 2)`` (``(Ldf - 2,)`` for one frame, which returns ``(L,)``);
    ``insert_zone`` is ``None`` or ``(IZ,)`` / ``(N, IZ)`` octets; ``ocf`` is
    ``None`` or ``(N,)`` 32-bit words.  Signalling field: not a replay, VC
    count cycle not used.  No FHEC.
    """
    _check_range("SCID", scid, 0, _SCID_MAX)
    zones, single = _as_fields(packet_zones)
    rows, zone_length = zones.shape
    vc = _per_frame("VCID", vcids, rows, _VCID_MAX)
    vc_count = _per_frame("VC frame count", vc_counts, rows, _VC_COUNT_MAX)
    fhp = _per_frame("first header pointer", first_header_pointers, rows, _FHP_MASK)
    inserts = _insert_zones(insert_zone, rows)
    insert_length = 0 if inserts is None else inserts.shape[1]
    frame_length = (
        AOS_PRIMARY_HEADER_LENGTH
        + insert_length
        + MPDU_HEADER_LENGTH
        + zone_length
        + OCF_LENGTH * (ocf is not None)
        + FECF_LENGTH * fecf
    )
    out = np.empty((rows, frame_length), dtype=np.uint8)
    word0 = (AOS_VERSION << 14) | (scid << 6) | vc
    out[:, 0] = word0 >> 8
    out[:, 1] = word0 & 0xFF
    out[:, 2] = vc_count >> 16
    out[:, 3] = (vc_count >> 8) & 0xFF
    out[:, 4] = vc_count & 0xFF
    out[:, 5] = 0  # signalling field: replay 0, count usage 0, spare 00, cycle 0000
    column = AOS_PRIMARY_HEADER_LENGTH
    if inserts is not None:
        out[:, column : column + insert_length] = inserts
        column += insert_length
    # M_PDU header (732.0-B §4.1.4.2.2): 5 spare bits 0, then the FHP.
    out[:, column] = fhp >> 8
    out[:, column + 1] = fhp & 0xFF
    column += MPDU_HEADER_LENGTH
    out[:, column : column + zone_length] = zones
    column += zone_length
    _write_trailer(out, column, ocf, rows, fecf=fecf)
    return out[0] if single else out


@dataclass(frozen=True)
class AosFrameBatch:
    """Decoded AOS frames; every field is ``(N,)`` (``()`` for one frame given as ``(L,)``).

    ``packet_zones`` and ``insert_zones`` are views into the input.  ``crc_ok``
    is False where the FECF does not match or the version is not 01 (link
    damage is data).  For idle frames (VCID 63) the data field holds idle data,
    so their ``first_header_pointer`` means nothing.
    """

    scid: npt.NDArray[np.uint16]
    vcid: npt.NDArray[np.uint8]
    vc_count: npt.NDArray[np.uint32]
    replay_flag: npt.NDArray[np.bool_]
    first_header_pointer: npt.NDArray[np.uint16]
    packet_zones: npt.NDArray[np.uint8]
    insert_zones: npt.NDArray[np.uint8] | None
    ocf: npt.NDArray[np.uint32] | None
    crc_ok: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.crc_ok.size)


def decode_aos_frames(
    frames: npt.ArrayLike, *, ocf: bool, fecf: bool = True, insert_zone: int = 0
) -> AosFrameBatch:
    """Split ``(N, L)`` AOS frames of one physical channel into fields.

    AOS headers do not say whether an OCF or insert zone is present, so the
    channel's managed parameters (``ocf``, ``fecf``, ``insert_zone``) are given.
    Frames too short for that layout raise RemoteProtocolError.
    """
    array = np.asarray(frames)
    if array.dtype != np.uint8:
        raise LocalProtocolError(f"frames must be uint8, got {array.dtype}")
    single = array.ndim == 1
    if single:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise LocalProtocolError(f"frames must be (L,) or (N, L), got {array.shape}")
    rows, length = array.shape
    minimum = (
        AOS_PRIMARY_HEADER_LENGTH
        + insert_zone
        + MPDU_HEADER_LENGTH
        + 1
        + OCF_LENGTH * ocf
        + FECF_LENGTH * fecf
    )
    if length < minimum:
        raise RemoteProtocolError(
            f"AOS frame of {length} octets is shorter than the minimum {minimum}", offset=length
        )
    word0 = (array[:, 0].astype(np.uint16) << 8) | array[:, 1]
    vc_count = (
        (array[:, 2].astype(np.uint32) << 16) | (array[:, 3].astype(np.uint32) << 8) | array[:, 4]
    )
    end = length - FECF_LENGTH * fecf
    if fecf:
        received = (array[:, end].astype(np.uint16) << 8) | array[:, end + 1]
        crc_ok = np.asarray(crc16_batch(array[:, :end]), dtype=np.uint16) == received
    else:
        crc_ok = np.ones(rows, dtype=bool)
    crc_ok &= (word0 >> 14) == AOS_VERSION
    ocf_words: npt.NDArray[np.uint32] | None = None
    if ocf:
        end -= OCF_LENGTH
        ocf_words = (
            np.ascontiguousarray(array[:, end : end + OCF_LENGTH])
            .view(">u4")[:, 0]
            .astype(np.uint32)
        )
    mpdu = AOS_PRIMARY_HEADER_LENGTH + insert_zone
    fhp = ((array[:, mpdu].astype(np.uint16) << 8) | array[:, mpdu + 1]) & _FHP_MASK
    batch = AosFrameBatch(
        scid=((word0 >> 6) & _SCID_MAX).astype(np.uint16),
        vcid=(word0 & _VCID_MAX).astype(np.uint8),
        vc_count=vc_count,
        replay_flag=(array[:, 5] & 0x80).astype(bool),
        first_header_pointer=fhp.astype(np.uint16),
        packet_zones=array[:, mpdu + MPDU_HEADER_LENGTH : end],
        insert_zones=array[:, AOS_PRIMARY_HEADER_LENGTH:mpdu] if insert_zone else None,
        ocf=ocf_words,
        crc_ok=crc_ok,
    )
    if not single:
        return batch
    return AosFrameBatch(
        scid=batch.scid[0],
        vcid=batch.vcid[0],
        vc_count=batch.vc_count[0],
        replay_flag=batch.replay_flag[0],
        first_header_pointer=batch.first_header_pointer[0],
        packet_zones=batch.packet_zones[0],
        insert_zones=None if batch.insert_zones is None else batch.insert_zones[0],
        ocf=None if ocf_words is None else ocf_words[0],
        crc_ok=batch.crc_ok[0],
    )


class AosFramer:
    """Stateful AOS framer for one physical channel: per-VC 24-bit frame counts.

    ``data_field_length`` is the M_PDU length (header included); :meth:`frame`
    takes packet zones of ``data_field_length - 2`` octets.
    """

    def __init__(
        self, scid: int, frame_length: int, *, ocf: bool, fecf: bool, insert_zone: int = 0
    ) -> None:
        _check_range("SCID", scid, 0, _SCID_MAX)
        self.scid = scid
        self.frame_length = frame_length
        self.ocf = ocf
        self.fecf = fecf
        self.insert_zone = insert_zone
        self.data_field_length = aos_data_field_length(
            frame_length, ocf=ocf, fecf=fecf, insert_zone=insert_zone
        )
        # The M_PDU header (FHP) precedes the packet zone (732.0-B §4.1.4.2).
        self.packet_zone_length = self.data_field_length - MPDU_HEADER_LENGTH
        self._vc_next: dict[int, int] = {}

    def frame(
        self,
        vcids: npt.ArrayLike,
        first_header_pointers: npt.ArrayLike,
        packet_zones: npt.ArrayLike,
        ocf_words: npt.ArrayLike | None = None,
        insert_zones: npt.ArrayLike | None = None,
    ) -> npt.NDArray[np.uint8]:
        """Frame ``(N, packet_zone_length)`` packet zones -> ``(N, frame_length)``.

        ``insert_zones`` defaults to zeros when the channel has an insert zone.
        """
        zones, single = _as_fields(packet_zones)
        rows = zones.shape[0]
        if zones.shape[1] != self.packet_zone_length:
            raise LocalProtocolError(
                f"packet zones are {zones.shape[1]} octets, this channel needs "
                f"{self.packet_zone_length}"
            )
        if self.ocf != (ocf_words is not None):
            raise LocalProtocolError(
                f"pass ocf_words exactly when the channel carries an OCF (ocf={self.ocf})"
            )
        if self.insert_zone and insert_zones is None:
            insert_zones = np.zeros(self.insert_zone, dtype=np.uint8)
        if insert_zones is not None:
            iz = np.asarray(insert_zones)
            if iz.shape[-1:] != (self.insert_zone,):
                raise LocalProtocolError(
                    f"insert zones must be {self.insert_zone} octets, got shape {iz.shape}"
                )
        vc = np.array(_per_frame("VCID", vcids, rows, _VCID_MAX))
        vc_counts = _assign_channel_counts(dict(self._vc_next), vc, VC_COUNT_MODULUS)
        frames = encode_aos_frames(
            self.scid,
            vc,
            vc_counts,
            first_header_pointers,
            zones,
            ocf=ocf_words,
            fecf=self.fecf,
            insert_zone=insert_zones,
        )
        _assign_channel_counts(self._vc_next, vc, VC_COUNT_MODULUS)
        return frames[0] if single else frames

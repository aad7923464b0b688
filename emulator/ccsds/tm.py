"""TM Transfer Frames (CCSDS 132.0-B-3).

Frame layout (132.0-B §4.1): primary header (6 octets), data field, optional
Operational Control Field (4 octets, the CLCW, §4.1.5), optional Frame Error
Control Field (2 octets, CRC-16, §4.1.6).  The secondary header is not used.

Primary header (§4.1.2):

=====================  ====  ================================================
field                  bits  note
=====================  ====  ================================================
version number            2  00
spacecraft ID            10
virtual channel ID        3
OCF flag                  1  an OCF follows the data field
master channel count      8  mod 256, one per frame on the physical channel
virtual channel count     8  mod 256, per VC
data field status        16  sec. header 0x8000, sync 0x4000, packet order
                             0x2000, segment length ID 0x1800, FHP & 0x7FF
=====================  ====  ================================================

:class:`TmFrameHeader` is the value object; :func:`encode_tm_frames` and
:func:`decode_tm_frames` are the batch codec over (N, L) uint8 arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import LocalProtocolError, RemoteProtocolError
from .crc import crc16_batch

__all__ = [
    "FECF_LENGTH",
    "FHP_IDLE",
    "FHP_NO_PACKET_START",
    "MAX_TM_FRAME_LENGTH",
    "OCF_LENGTH",
    "TM_PRIMARY_HEADER_LENGTH",
    "TmFrameBatch",
    "TmFrameHeader",
    "TmFramer",
    "decode_tm_frames",
    "encode_tm_frames",
    "tm_data_field_length",
]

TM_PRIMARY_HEADER_LENGTH: Final = 6
OCF_LENGTH: Final = 4
FECF_LENGTH: Final = 2
# 132.0-B §4.1.2.7.6: FHP all ones = no packet starts in this frame; all ones
# minus one = the data field holds only idle data.
FHP_NO_PACKET_START: Final = 0x7FF
FHP_IDLE: Final = 0x7FE
MAX_TM_FRAME_LENGTH: Final = 2048  # 132.0-B §4.1.1: at most 2048 octets

_SCID_MAX: Final = 0x3FF
_VCID_MAX: Final = 0x7
_FHP_MASK: Final = 0x7FF
_SEC_HDR_BIT: Final = 0x8000
_SYNC_BIT: Final = 0x4000
_ORDER_BIT: Final = 0x2000
_SEG_LEN_SHIFT: Final = 11


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise LocalProtocolError(f"{name} {value} is outside {low}..{high}")


@dataclass(frozen=True)
class TmFrameHeader:
    """TM transfer frame primary header (132.0-B §4.1.2)."""

    scid: int
    vcid: int
    ocf_flag: bool
    mc_count: int
    vc_count: int
    first_header_pointer: int
    sec_header_flag: bool = False
    sync_flag: bool = False
    packet_order_flag: bool = False
    segment_length_id: int = 0b11

    def __post_init__(self) -> None:
        _check_range("SCID", self.scid, 0, _SCID_MAX)
        _check_range("VCID", self.vcid, 0, _VCID_MAX)
        _check_range("MC count", self.mc_count, 0, 0xFF)
        _check_range("VC count", self.vc_count, 0, 0xFF)
        _check_range("first header pointer", self.first_header_pointer, 0, _FHP_MASK)
        _check_range("segment length ID", self.segment_length_id, 0, 3)
        for name in ("ocf_flag", "sec_header_flag", "sync_flag", "packet_order_flag"):
            object.__setattr__(self, name, bool(getattr(self, name)))

    def pack(self) -> bytes:
        """The 6 header octets."""
        word0 = (self.scid << 4) | (self.vcid << 1) | int(self.ocf_flag)
        status = (
            (_SEC_HDR_BIT if self.sec_header_flag else 0)
            | (_SYNC_BIT if self.sync_flag else 0)
            | (_ORDER_BIT if self.packet_order_flag else 0)
            | (self.segment_length_id << _SEG_LEN_SHIFT)
            | self.first_header_pointer
        )
        return bytes(
            (word0 >> 8, word0 & 0xFF, self.mc_count, self.vc_count, status >> 8, status & 0xFF)
        )

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> TmFrameHeader:
        """Parse the first 6 octets; a wrong version or short input raises RemoteProtocolError."""
        raw = bytes(data[:TM_PRIMARY_HEADER_LENGTH])
        if len(raw) < TM_PRIMARY_HEADER_LENGTH:
            raise RemoteProtocolError(
                f"TM frame header needs {TM_PRIMARY_HEADER_LENGTH} octets, got {len(raw)}",
                offset=len(raw),
            )
        word0 = (raw[0] << 8) | raw[1]
        if word0 >> 14 != 0:
            raise RemoteProtocolError(f"TM frame version {word0 >> 14} is not 0", offset=0)
        status = (raw[4] << 8) | raw[5]
        return cls(
            scid=(word0 >> 4) & _SCID_MAX,
            vcid=(word0 >> 1) & _VCID_MAX,
            ocf_flag=bool(word0 & 1),
            mc_count=raw[2],
            vc_count=raw[3],
            first_header_pointer=status & _FHP_MASK,
            sec_header_flag=bool(status & _SEC_HDR_BIT),
            sync_flag=bool(status & _SYNC_BIT),
            packet_order_flag=bool(status & _ORDER_BIT),
            segment_length_id=(status >> _SEG_LEN_SHIFT) & 3,
        )


def tm_data_field_length(frame_length: int, *, ocf: bool, fecf: bool) -> int:
    """Octets of the data field in a frame of ``frame_length`` octets."""
    trailer = OCF_LENGTH * ocf + FECF_LENGTH * fecf
    length = frame_length - TM_PRIMARY_HEADER_LENGTH - trailer
    if length < 1 or frame_length > MAX_TM_FRAME_LENGTH:
        raise LocalProtocolError(
            f"TM frame length {frame_length} leaves no data field or exceeds {MAX_TM_FRAME_LENGTH}"
        )
    return length


def _per_frame(name: str, values: npt.ArrayLike, rows: int, high: int) -> npt.NDArray[np.int64]:
    """Broadcast a scalar or (N,) field to (N,) int64 after a range check."""
    array = np.asarray(values)
    if array.ndim > 1 or (array.ndim == 1 and array.shape[0] != rows):
        raise LocalProtocolError(f"{name} must be a scalar or ({rows},), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer) and not np.issubdtype(array.dtype, np.bool_):
        raise LocalProtocolError(f"{name} must be integers, got {array.dtype}")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() > high):
        raise LocalProtocolError(f"{name} must be within 0..{high}")
    return np.broadcast_to(array, (rows,))


def _as_fields(data_fields: npt.ArrayLike) -> tuple[npt.NDArray[np.uint8], bool]:
    fields = np.asarray(data_fields)
    if fields.dtype != np.uint8:
        raise LocalProtocolError(f"data fields must be uint8, got {fields.dtype}")
    single = fields.ndim == 1
    if single:
        fields = fields.reshape(1, -1)
    if fields.ndim != 2 or fields.shape[1] == 0:
        raise LocalProtocolError(f"data fields must be (Ldf,) or (N, Ldf), got {fields.shape}")
    return fields, single


def _ocf_words(ocf: npt.ArrayLike, rows: int) -> npt.NDArray[np.uint32]:
    words = np.asarray(ocf)
    if words.ndim > 1 or (words.ndim == 1 and words.shape[0] != rows):
        raise LocalProtocolError(f"OCF words must be a scalar or ({rows},), got {words.shape}")
    if words.size and (words.min() < 0 or words.max() > 0xFFFFFFFF):
        raise LocalProtocolError("OCF words must be 32-bit values")
    return np.broadcast_to(words.astype(np.uint32), (rows,))


def _write_be32(out: npt.NDArray[np.uint8], column: int, words: npt.NDArray[np.uint32]) -> None:
    out[:, column : column + 4] = words.astype(">u4").view(np.uint8).reshape(-1, 4)


def _write_trailer(
    out: npt.NDArray[np.uint8], column: int, ocf: npt.ArrayLike | None, rows: int, *, fecf: bool
) -> None:
    """OCF then FECF after ``column`` (132.0 §4.1.5-6, 732.0 §4.1.5-6): one layout for TM and AOS."""
    if ocf is not None:
        _write_be32(out, column, _ocf_words(ocf, rows))
        column += OCF_LENGTH
    if fecf:
        crc = np.asarray(crc16_batch(out[:, :column]), dtype=np.uint16)
        out[:, column] = crc >> 8
        out[:, column + 1] = crc & 0xFF


def encode_tm_frames(
    scid: int,
    vcids: npt.ArrayLike,
    mc_counts: npt.ArrayLike,
    vc_counts: npt.ArrayLike,
    first_header_pointers: npt.ArrayLike,
    data_fields: npt.ArrayLike,
    *,
    ocf: npt.ArrayLike | None = None,
    fecf: bool = True,
) -> npt.NDArray[np.uint8]:
    """Build TM frames around data fields (132.0-B §4.1), vectorised over frames.

    Per-frame arguments are ``(N,)`` arrays or scalars; ``data_fields`` is
    ``(N, Ldf)`` (or ``(Ldf,)`` for one frame, which returns ``(L,)``).
    ``ocf`` is ``None`` (no OCF, flag 0) or ``(N,)`` 32-bit CLCW words.
    The result is ``(N, 6 + Ldf + 4*ocf + 2*fecf)``; the FECF is the CRC-16 of
    everything before it.
    """
    _check_range("SCID", scid, 0, _SCID_MAX)
    fields, single = _as_fields(data_fields)
    rows, field_length = fields.shape
    vc = _per_frame("VCID", vcids, rows, _VCID_MAX)
    mc_count = _per_frame("MC count", mc_counts, rows, 0xFF)
    vc_count = _per_frame("VC count", vc_counts, rows, 0xFF)
    fhp = _per_frame("first header pointer", first_header_pointers, rows, _FHP_MASK)
    has_ocf = ocf is not None
    frame_length = TM_PRIMARY_HEADER_LENGTH + field_length + OCF_LENGTH * has_ocf
    frame_length += FECF_LENGTH * fecf
    if frame_length > MAX_TM_FRAME_LENGTH:
        raise LocalProtocolError(f"TM frame of {frame_length} octets exceeds {MAX_TM_FRAME_LENGTH}")

    out = np.empty((rows, frame_length), dtype=np.uint8)
    word0 = (scid << 4) | (vc << 1) | int(has_ocf)
    # Data field status: no secondary header, sync 0 (packets), order 0,
    # segment length ID 11 as 132.0-B §4.1.2.7.5 requires when sync is 0.
    status = (0b11 << _SEG_LEN_SHIFT) | fhp
    out[:, 0] = word0 >> 8
    out[:, 1] = word0 & 0xFF
    out[:, 2] = mc_count
    out[:, 3] = vc_count
    out[:, 4] = status >> 8
    out[:, 5] = status & 0xFF
    end = TM_PRIMARY_HEADER_LENGTH + field_length
    out[:, TM_PRIMARY_HEADER_LENGTH:end] = fields
    _write_trailer(out, end, ocf, rows, fecf=fecf)
    return out[0] if single else out


@dataclass(frozen=True)
class TmFrameBatch:
    """Decoded TM frames; every field is ``(N,)`` (``()`` for one frame given as ``(L,)``).

    ``scid`` is uint16 and ``vc_count`` uint32 as in :class:`~emulator.ccsds.aos.AosFrameBatch`,
    so a receiver can treat both batches alike.

    ``data_fields`` is a view into the input frames.  ``crc_ok`` is True for
    frames that pass the FECF and header checks (see :func:`decode_tm_frames`).  A CRC failure is data, not an exception.
    """

    scid: npt.NDArray[np.uint16]
    vcid: npt.NDArray[np.uint8]
    ocf_flag: npt.NDArray[np.bool_]
    mc_count: npt.NDArray[np.uint8]
    vc_count: npt.NDArray[np.uint32]
    first_header_pointer: npt.NDArray[np.uint16]
    data_fields: npt.NDArray[np.uint8]
    ocf: npt.NDArray[np.uint32] | None
    crc_ok: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.crc_ok.size)


def decode_tm_frames(frames: npt.ArrayLike, *, fecf: bool = True) -> TmFrameBatch:
    """Split ``(N, L)`` TM frames into header fields, data fields, OCF and CRC result.

    The OCF layout follows the OCF flag of the majority of the frames (frames of
    one virtual/master channel share it, 132.0-B §4.1.2.4).  ``crc_ok`` is
    False for a frame whose FECF does not match, whose version number is not
    00 or whose own OCF flag disagrees: damage on the link is data, never an
    exception (with ``fecf=False`` only the last two checks apply).  Frames
    too short to hold a header, OCF and FECF raise RemoteProtocolError.
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
    if length < TM_PRIMARY_HEADER_LENGTH:
        raise RemoteProtocolError(
            f"TM frame of {length} octets is shorter than its header", offset=length
        )
    word0 = (array[:, 0].astype(np.uint16) << 8) | array[:, 1]
    ocf_flag = (array[:, 1] & 1).astype(bool)
    has_ocf = int(np.count_nonzero(ocf_flag)) * 2 > rows
    minimum = TM_PRIMARY_HEADER_LENGTH + 1 + OCF_LENGTH * has_ocf + FECF_LENGTH * fecf
    if length < minimum:
        raise RemoteProtocolError(
            f"TM frame of {length} octets is shorter than the minimum {minimum}", offset=length
        )
    status = (array[:, 4].astype(np.uint16) << 8) | array[:, 5]
    end = length - FECF_LENGTH * fecf
    if fecf:
        received = (array[:, end].astype(np.uint16) << 8) | array[:, end + 1]
        crc_ok = np.asarray(crc16_batch(array[:, :end]), dtype=np.uint16) == received
    else:
        crc_ok = np.ones(rows, dtype=bool)
    # Damaged headers are link noise: counted through crc_ok, never raised.
    crc_ok &= (ocf_flag == has_ocf) & ((word0 >> 14) == 0)
    ocf_words: npt.NDArray[np.uint32] | None = None
    if has_ocf:
        end -= OCF_LENGTH
        ocf_words = (
            np.ascontiguousarray(array[:, end : end + OCF_LENGTH])
            .view(">u4")[:, 0]
            .astype(np.uint32)
        )
    batch = TmFrameBatch(
        scid=((word0 >> 4) & _SCID_MAX).astype(np.uint16),
        vcid=((word0 >> 1) & _VCID_MAX).astype(np.uint8),
        ocf_flag=ocf_flag,
        mc_count=array[:, 2].copy(),
        vc_count=array[:, 3].astype(np.uint32),
        first_header_pointer=(status & _FHP_MASK).astype(np.uint16),
        data_fields=array[:, TM_PRIMARY_HEADER_LENGTH:end],
        ocf=ocf_words,
        crc_ok=crc_ok,
    )
    if single:
        return TmFrameBatch(
            scid=batch.scid[0],
            vcid=batch.vcid[0],
            ocf_flag=batch.ocf_flag[0],
            mc_count=batch.mc_count[0],
            vc_count=batch.vc_count[0],
            first_header_pointer=batch.first_header_pointer[0],
            data_fields=batch.data_fields[0],
            ocf=None if ocf_words is None else ocf_words[0],
            crc_ok=batch.crc_ok[0],
        )
    return batch


def _assign_channel_counts(
    next_counts: dict[int, int], vcids: npt.NDArray[np.int64], modulus: int
) -> npt.NDArray[np.int64]:
    """Consecutive counts per virtual channel, continuing from ``next_counts``."""
    counts = np.empty(vcids.shape[0], dtype=np.int64)
    for vcid in np.unique(vcids):
        positions = np.flatnonzero(vcids == vcid)
        start = next_counts.get(int(vcid), 0)
        counts[positions] = (start + np.arange(positions.size)) % modulus
        next_counts[int(vcid)] = (start + positions.size) % modulus
    return counts


class TmFramer:
    """Stateful framer for one physical channel: MC count and per-VC counts (mod 256).

    The counts continue across calls (132.0-B §4.1.2.5-6).
    """

    def __init__(self, scid: int, frame_length: int, *, ocf: bool, fecf: bool) -> None:
        _check_range("SCID", scid, 0, _SCID_MAX)
        self.scid = scid
        self.frame_length = frame_length
        self.ocf = ocf
        self.fecf = fecf
        self.data_field_length = tm_data_field_length(frame_length, ocf=ocf, fecf=fecf)
        # A TM packet channel's packet zone is the whole data field (132.0-B §4.1.3.1).
        self.packet_zone_length = self.data_field_length
        self._mc_next = 0
        self._vc_next: dict[int, int] = {}

    def frame(
        self,
        vcids: npt.ArrayLike,
        first_header_pointers: npt.ArrayLike,
        data_fields: npt.ArrayLike,
        ocf_words: npt.ArrayLike | None = None,
    ) -> npt.NDArray[np.uint8]:
        """Frame ``(N, data_field_length)`` data fields -> ``(N, frame_length)``."""
        fields, single = _as_fields(data_fields)
        rows = fields.shape[0]
        if fields.shape[1] != self.data_field_length:
            raise LocalProtocolError(
                f"data fields are {fields.shape[1]} octets, this channel needs "
                f"{self.data_field_length}"
            )
        if self.ocf and ocf_words is None:
            raise LocalProtocolError("this channel carries an OCF: pass ocf_words")
        if not self.ocf and ocf_words is not None:
            raise LocalProtocolError("this channel has no OCF, but ocf_words were given")
        vc = np.array(_per_frame("VCID", vcids, rows, _VCID_MAX))
        mc_counts = (self._mc_next + np.arange(rows, dtype=np.int64)) % 256
        vc_counts = _assign_channel_counts(dict(self._vc_next), vc, 256)
        frames = encode_tm_frames(
            self.scid,
            vc,
            mc_counts,
            vc_counts,
            first_header_pointers,
            fields,
            ocf=ocf_words,
            fecf=self.fecf,
        )
        # Commit the counters only after the frames were built without error.
        self._mc_next = (self._mc_next + rows) % 256
        _assign_channel_counts(self._vc_next, vc, 256)
        return frames[0] if single else frames

"""One framer and one deframer per physical channel, selected by its coding.

A packet channel looks the same to its users whether it runs on TM frames
(132.0-B) or AOS frames (732.0-B): packet zones with a First Header Pointer go
in, frames come out, and the reverse. The differences (where the FHP sits, the
M_PDU header of AOS, the width of the VC frame count) stay in :mod:`.tm` and
:mod:`.aos`; callers hold a :class:`Framer` made by :func:`make_framer` and call
:func:`deframe`, and never ask which frame type the band uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from .aos import _SCID_MAX as _AOS_SCID_MAX
from .aos import AosFramer, decode_aos_frames
from .coding import ChannelCoding
from .tm import _SCID_MAX as _TM_SCID_MAX
from .tm import TmFramer, decode_tm_frames

__all__ = ["DeframedBatch", "Framer", "deframe", "make_framer", "max_scid"]


class Framer(Protocol):
    """Packet zones -> transfer frames of one physical channel (counts carry over)."""

    frame_length: int
    #: Octets of user packet data per frame: the TM data field, or the AOS
    #: M_PDU packet zone after its 2-octet header (732.0-B §4.1.4.2).
    packet_zone_length: int

    def frame(
        self,
        vcids: npt.ArrayLike,
        first_header_pointers: npt.ArrayLike,
        packet_zones: npt.ArrayLike,
        ocf_words: npt.ArrayLike | None = None,
    ) -> npt.NDArray[np.uint8]:
        """``(N, packet_zone_length)`` zones -> ``(N, frame_length)`` frames."""
        ...


def max_scid(frame_type: str) -> int:
    """The largest SCID a frame type's header carries: TM 10 bits (132.0
    4.1.2.2.3), AOS 8 bits (732.0 4.1.2.2.3)."""
    return _TM_SCID_MAX if frame_type == "TM" else _AOS_SCID_MAX


def make_framer(coding: ChannelCoding, scid: int) -> Framer:
    """The framer of a band: TM or AOS after ``coding.frame_type``."""
    if coding.frame_type == "TM":
        return TmFramer(scid, coding.frame_length, ocf=coding.ocf, fecf=coding.fecf)
    return AosFramer(
        scid, coding.frame_length, ocf=coding.ocf, fecf=coding.fecf, insert_zone=coding.insert_zone
    )


@dataclass(frozen=True)
class DeframedBatch:
    """What a packet demultiplexer needs from ``(N, L)`` frames of either type."""

    vcid: npt.NDArray[np.uint8]
    vc_count: npt.NDArray[np.uint32]
    first_header_pointer: npt.NDArray[np.uint16]
    packet_zones: npt.NDArray[np.uint8]
    ocf: npt.NDArray[np.uint32] | None
    crc_ok: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.crc_ok.size)


def deframe(frames: npt.ArrayLike, coding: ChannelCoding) -> DeframedBatch:
    """Split ``(N, frame_length)`` frames of a band into their packet-channel fields."""
    if coding.frame_type == "TM":
        tm = decode_tm_frames(frames, fecf=coding.fecf)
        return DeframedBatch(tm.vcid, tm.vc_count, tm.first_header_pointer, tm.data_fields,
                             tm.ocf, tm.crc_ok)
    aos = decode_aos_frames(frames, ocf=coding.ocf, fecf=coding.fecf, insert_zone=coding.insert_zone)
    return DeframedBatch(aos.vcid, aos.vc_count, aos.first_header_pointer, aos.packet_zones,
                         aos.ocf, aos.crc_ok)

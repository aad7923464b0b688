"""TC transfer frames (CCSDS 232.0-B, TC Space Data Link Protocol).

Primary header, 5 octets (232.0 §4.1.2):

=========================  ====
field                      bits
=========================  ====
transfer frame version     2 (00)
bypass flag                1
control command flag       1
spare                      2 (00)
spacecraft id              10
virtual channel id         6
frame length               10 (total octets - 1)
frame sequence number      8
=========================  ====

The optional frame error control field (FECF, 232.0 §4.1.4) is CRC-16 with
polynomial 0x1021 and initial value 0xFFFF over the whole frame before it, which is
:func:`binascii.crc_hqx` with ``0xFFFF``.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Final

from ..errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "BC_SET_VR_PREFIX",
    "BC_UNLOCK",
    "TC_HEADER_LEN",
    "TC_MAX_FRAME_LEN",
    "TcFrame",
    "TcFrameHeader",
]

TC_HEADER_LEN: Final = 5
TC_MAX_FRAME_LEN: Final = 1024  # 232.0 §4.1.2.7: the length field counts up to 1024 octets
FECF_LEN: Final = 2
#: Type-BC control commands (232.1 §5.3.2 / 232.0 §4.1.3.3): Unlock is one octet 00;
#: Set V(R) is 82 00 followed by the new V(R).
BC_UNLOCK: Final = b"\x00"
BC_SET_VR_PREFIX: Final = b"\x82\x00"


def _check(name: str, value: int, bits: int) -> None:
    if not 0 <= value < (1 << bits):
        raise LocalProtocolError(
            f"{name} must fit in {bits} bits (0..{(1 << bits) - 1}), got {value}"
        )


@dataclass(frozen=True)
class TcFrameHeader:
    """TC transfer frame primary header (232.0 §4.1.2); range-checked value object."""

    scid: int
    vcid: int
    frame_length: int  # total frame octets - 1 (the raw field value)
    seq: int = 0
    bypass: bool = False
    control_command: bool = False
    version: int = 0

    def __post_init__(self) -> None:
        _check("version", self.version, 2)
        _check("scid", self.scid, 10)
        _check("vcid", self.vcid, 6)
        _check("frame_length", self.frame_length, 10)
        _check("seq", self.seq, 8)

    @property
    def total_length(self) -> int:
        """Total octets of the frame (header, data and FECF)."""
        return self.frame_length + 1

    @property
    def frame_type(self) -> str:
        """'AD', 'BD', 'BC' or 'invalid' (bypass=0 with control command, 232.0 §4.1.2.3)."""
        if self.control_command:
            return "BC" if self.bypass else "invalid"
        return "BD" if self.bypass else "AD"

    def pack(self) -> bytes:
        """The 5 header octets."""
        word = (
            self.version << 38
            | int(self.bypass) << 37
            | int(self.control_command) << 36
            | self.scid << 24
            | self.vcid << 18
            | self.frame_length << 8
            | self.seq
        )
        return word.to_bytes(TC_HEADER_LEN, "big")

    @classmethod
    def unpack(cls, data: bytes) -> TcFrameHeader:
        """Parse the first 5 octets; :class:`RemoteProtocolError` if short or not version 0."""
        if len(data) < TC_HEADER_LEN:
            raise RemoteProtocolError(
                f"TC frame header needs {TC_HEADER_LEN} octets, got {len(data)}", offset=0
            )
        word = int.from_bytes(data[:TC_HEADER_LEN], "big")
        version = word >> 38
        if version != 0:
            raise RemoteProtocolError(f"TC frame version {version} is not 0 (232.0)", offset=0)
        spare = word >> 34 & 0b11
        if spare:
            # 232.0 §4.1.2.4: the reserved spare bits are 00. Accepting others
            # would let a frame change when repacked.
            raise RemoteProtocolError(f"TC frame spare bits are {spare:02b}, not 00", offset=0)
        return cls(
            version=version,
            bypass=bool(word >> 37 & 1),
            control_command=bool(word >> 36 & 1),
            scid=word >> 24 & 0x3FF,
            vcid=word >> 18 & 0x3F,
            frame_length=word >> 8 & 0x3FF,
            seq=word & 0xFF,
        )


@dataclass(frozen=True)
class TcFrame:
    """A TC transfer frame: header and data field (a segment header, if any, is data)."""

    header: TcFrameHeader
    data: bytes

    def pack(self, fecf: bool = True) -> bytes:
        """Header + data (+ FECF); the header's length field must match."""
        total = TC_HEADER_LEN + len(self.data) + (FECF_LEN if fecf else 0)
        if total != self.header.total_length:
            raise LocalProtocolError(
                f"header frame_length says {self.header.total_length} octets, frame has {total}"
            )
        body = self.header.pack() + self.data
        if fecf:
            body += binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")
        return body

    @classmethod
    def unpack(cls, data: bytes, fecf: bool = True) -> TcFrame:
        """Parse one frame; octets beyond its length field (e.g. CLTU fill) are ignored.

        Raises :class:`RemoteProtocolError` for a short frame or a bad FECF.
        """
        header = TcFrameHeader.unpack(data)
        total = header.total_length
        minimum = TC_HEADER_LEN + (FECF_LEN if fecf else 0) + 1
        if total < minimum:
            raise RemoteProtocolError(
                f"TC frame length {total} is below the minimum {minimum}", offset=2
            )
        if len(data) < total:
            raise RemoteProtocolError(
                f"TC frame length field says {total} octets, got {len(data)}", offset=len(data)
            )
        frame = bytes(data[:total])
        if fecf:
            want = binascii.crc_hqx(frame[:-FECF_LEN], 0xFFFF)
            got = int.from_bytes(frame[-FECF_LEN:], "big")
            if want != got:
                raise RemoteProtocolError(
                    f"TC frame FECF {got:04X} != computed {want:04X}", offset=total - FECF_LEN
                )
            return cls(header, frame[TC_HEADER_LEN:-FECF_LEN])
        return cls(header, frame[TC_HEADER_LEN:])

    @classmethod
    def _build(
        cls,
        scid: int,
        vcid: int,
        seq: int,
        data: bytes,
        bypass: bool,
        control_command: bool,
        fecf: bool,
    ) -> TcFrame:
        if not data:
            raise LocalProtocolError("a TC frame data field needs at least one octet")
        total = TC_HEADER_LEN + len(data) + (FECF_LEN if fecf else 0)
        if total > TC_MAX_FRAME_LEN:
            raise LocalProtocolError(f"TC frame of {total} octets exceeds {TC_MAX_FRAME_LEN}")
        header = TcFrameHeader(
            scid=scid,
            vcid=vcid,
            frame_length=total - 1,
            seq=seq,
            bypass=bypass,
            control_command=control_command,
        )
        return cls(header, bytes(data))

    @classmethod
    def ad(cls, scid: int, vcid: int, seq: int, data: bytes, *, fecf: bool = True) -> TcFrame:
        """Type-AD (sequence-controlled) frame with N(S) = ``seq``."""
        return cls._build(scid, vcid, seq, data, bypass=False, control_command=False, fecf=fecf)

    @classmethod
    def bd(cls, scid: int, vcid: int, seq: int, data: bytes, *, fecf: bool = True) -> TcFrame:
        """Type-BD (expedited) frame; FARM-1 does not check its sequence number (use 0)."""
        return cls._build(scid, vcid, seq, data, bypass=True, control_command=False, fecf=fecf)

    @classmethod
    def bc_unlock(cls, scid: int, vcid: int, *, fecf: bool = True) -> TcFrame:
        """Type-BC Unlock control command (232.1 §5.3.2.2)."""
        return cls._build(scid, vcid, 0, BC_UNLOCK, bypass=True, control_command=True, fecf=fecf)

    @classmethod
    def bc_set_vr(cls, scid: int, vcid: int, vr: int, *, fecf: bool = True) -> TcFrame:
        """Type-BC Set V(R) control command: V(R) := ``vr`` (232.1 §5.3.2.3)."""
        _check("vr", vr, 8)
        return cls._build(
            scid,
            vcid,
            0,
            BC_SET_VR_PREFIX + bytes([vr]),
            bypass=True,
            control_command=True,
            fecf=fecf,
        )

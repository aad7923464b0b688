"""Communications Link Control Word (CCSDS 232.0-B §4.2.1), carried in the TM/AOS OCF.

Bit layout, most significant first (32 bits):

====================  ====  ==========================
field                 bits  note
====================  ====  ==========================
control word type     1     0 = CLCW
CLCW version          2     00
status field          3     mission specific
COP in effect         2     01 = COP-1
virtual channel id    6
spare                 2     00
no RF available       1
no bit lock           1
lockout               1
wait                  1
retransmit            1
FARM-B counter        2     two low bits
spare                 1     0
report value N(R)     8     V(R) of the FARM
====================  ====  ==========================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..errors import LocalProtocolError, RemoteProtocolError

__all__ = ["CLCW_LEN", "Clcw"]

CLCW_LEN: Final = 4


def _check(name: str, value: int, bits: int) -> None:
    if not 0 <= value < (1 << bits):
        raise LocalProtocolError(
            f"{name} must fit in {bits} bits (0..{(1 << bits) - 1}), got {value}"
        )


@dataclass(frozen=True)
class Clcw:
    """One CLCW as a range-checked value object."""

    vcid: int
    report_value: int = 0
    lockout: bool = False
    wait: bool = False
    retransmit: bool = False
    farm_b_counter: int = 0
    no_rf_available: bool = False
    no_bit_lock: bool = False
    status: int = 0
    cop_in_effect: int = 1

    def __post_init__(self) -> None:
        _check("vcid", self.vcid, 6)
        _check("report_value", self.report_value, 8)
        _check("farm_b_counter", self.farm_b_counter, 2)
        _check("status", self.status, 3)
        _check("cop_in_effect", self.cop_in_effect, 2)

    def to_int(self) -> int:
        """The 32-bit word (type and version bits 0, spares 0)."""
        return (
            self.status << 26
            | self.cop_in_effect << 24
            | self.vcid << 18
            | int(self.no_rf_available) << 15
            | int(self.no_bit_lock) << 14
            | int(self.lockout) << 13
            | int(self.wait) << 12
            | int(self.retransmit) << 11
            | self.farm_b_counter << 9
            | self.report_value
        )

    def pack(self) -> bytes:
        """The 4 OCF octets, big-endian."""
        return self.to_int().to_bytes(CLCW_LEN, "big")

    @classmethod
    def from_int(cls, word: int) -> Clcw:
        """Parse a 32-bit word; :class:`RemoteProtocolError` if it is not a version-0 CLCW.

        Spare bits are ignored (a receiver should not reject a word for them).
        """
        if not 0 <= word < 1 << 32:
            raise LocalProtocolError(f"a CLCW is a 32-bit word, got {word}")
        if word >> 31:
            raise RemoteProtocolError("OCF control word type is 1, not a CLCW (232.0 §4.2.1.2)")
        version = word >> 29 & 0b11
        if version != 0:
            raise RemoteProtocolError(f"CLCW version {version} is not 00 (232.0 §4.2.1.3)")
        return cls(
            status=word >> 26 & 0b111,
            cop_in_effect=word >> 24 & 0b11,
            vcid=word >> 18 & 0x3F,
            no_rf_available=bool(word >> 15 & 1),
            no_bit_lock=bool(word >> 14 & 1),
            lockout=bool(word >> 13 & 1),
            wait=bool(word >> 12 & 1),
            retransmit=bool(word >> 11 & 1),
            farm_b_counter=word >> 9 & 0b11,
            report_value=word & 0xFF,
        )

    @classmethod
    def unpack(cls, data: bytes) -> Clcw:
        """Parse the first 4 octets (e.g. a frame's OCF)."""
        if len(data) < CLCW_LEN:
            raise RemoteProtocolError(f"a CLCW needs {CLCW_LEN} octets, got {len(data)}", offset=0)
        return cls.from_int(int.from_bytes(data[:CLCW_LEN], "big"))

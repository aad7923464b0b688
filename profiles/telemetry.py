"""The telemetry blocks of a lander profile: packets (APIDs) and their channels."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lunar_hil.emulator.ccsds import CUC_LENGTH, IDLE_APID

from .provenance import Sourced, field_error

__all__ = ["APID_IDLE", "CHANNEL_SIZES", "CUC_LENGTH", "Apid", "Channel", "ChannelType"]

ChannelType = Literal["u8", "u16", "u32", "i8", "i16", "i32", "f32", "f64"]
_INT_LIMITS: dict[str, tuple[int, int]] = {
    "u8": (0, 0xFF),
    "u16": (0, 0xFFFF),
    "u32": (0, 0xFFFFFFFF),
    "i8": (-0x80, 0x7F),
    "i16": (-0x8000, 0x7FFF),
    "i32": (-0x80000000, 0x7FFFFFFF),
}
CHANNEL_SIZES: dict[str, int] = {"u8": 1, "u16": 2, "u32": 4, "i8": 1, "i16": 2, "i32": 4, "f32": 4, "f64": 8}


class Channel(Sourced):
    """One telemetry parameter: big-endian ``type`` in the packet;
    for integer types ``raw = round((eng - offset) / scale)``."""

    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    type: ChannelType
    unit: str = ""
    source: str
    range: tuple[float, float]
    scale: float = Field(default=1.0)
    offset: float = 0.0
    description: str | None = None

    _structural = frozenset({"name", "unit", "description"})

    @model_validator(mode="after")
    def _range_fits(self) -> Channel:
        lo, hi = self.range
        for name, value in (("range", lo), ("range", hi), ("scale", self.scale),
                            ("offset", self.offset)):
            if not math.isfinite(value):
                raise field_error(name, f"{name} must be a finite number, got {value}")
        if lo >= hi:
            raise field_error("range", f"range min {lo} must be < max {hi}")
        if self.scale == 0:
            raise field_error("scale", "scale must not be 0")
        if self.type in _INT_LIMITS:
            tmin, tmax = _INT_LIMITS[self.type]
            scaled = [(v - self.offset) / self.scale for v in (lo, hi)]
            if not all(math.isfinite(r) for r in scaled):
                # A subnormal scale (1e-320) overflows the division: round() would
                # raise OverflowError, which pydantic does not turn into an error line.
                raise field_error(
                    "scale", f"scale {self.scale} puts range [{lo}, {hi}] beyond any {self.type}")
            raws = sorted(round(r) for r in scaled)
            if raws[0] < tmin or raws[1] > tmax:
                raise field_error(
                    "range",
                    f"range [{lo}, {hi}] gives raw [{raws[0]}, {raws[1]}], outside {self.type} [{tmin}, {tmax}]",
                )
        return self

    @property
    def size(self) -> int:
        """Bytes of this channel in the packet."""
        return CHANNEL_SIZES[self.type]


APID_IDLE = IDLE_APID  # 133.0 §4.1.3.3.4: idle packets (the codec owns the number)


class Apid(Sourced):
    """One telemetry packet type: CUC time secondary header, then the
    channels in order, then ``science_bytes`` of opaque science data."""

    apid: int = Field(ge=0, lt=2048)
    name: str
    subsystem: Literal["power", "thermal", "gnc", "comms", "mode", "payload", "rover"]
    asset: str = "lander"
    instrument: str | None = None
    rate_hz: float = Field(gt=0)
    channels: list[Channel] = Field(default_factory=list)
    science_bytes: int = Field(default=0, ge=0)

    _structural = frozenset({"name", "subsystem", "asset", "instrument"})

    @field_validator("apid")
    @classmethod
    def _not_idle(cls, value: int) -> int:
        if value == APID_IDLE:
            raise ValueError("APID 0x7FF (2047) is reserved for idle packets")
        return value

    @property
    def user_data_length(self) -> int:
        """Packet data field bytes: CUC + channels + science data."""
        return CUC_LENGTH + sum(c.size for c in self.channels) + self.science_bytes

    @property
    def packet_length(self) -> int:
        """Whole space packet: 6-byte primary header + data field."""
        return 6 + self.user_data_length

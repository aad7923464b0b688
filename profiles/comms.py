"""The comms blocks of a lander profile: RF bands with their framing and
coding, relay satellites and ground networks."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lunar_hil.emulator.ccsds import (
    AOS_PRIMARY_HEADER_LENGTH,
    MAX_TM_FRAME_LENGTH,
    MPDU_HEADER_LENGTH,
    RS_K,
    RS_PARITY,
    TM_PRIMARY_HEADER_LENGTH,
    VALID_INTERLEAVES,
    ChannelCoding,
)

from .provenance import Sourced, field_error

__all__ = [
    "AOS_MPDU_HEADER", "AOS_PRIMARY_HEADER", "RS_INTERLEAVES", "RS_K", "RS_PARITY",
    "TM_MAX_FRAME_LENGTH", "TM_PRIMARY_HEADER", "Band", "GroundNetwork", "GroundStation",
    "Relay", "RelayOrbit", "VirtualChannel",
]

# The CCSDS constants have one owner, the codec (lunar_hil.emulator.ccsds);
# the profile schema validates against the same numbers.
#: Allowed ``rs_interleave`` values: 0 (no Reed-Solomon) or 131.0 §4.2.2's.
RS_INTERLEAVES: frozenset[int] = frozenset({0, *VALID_INTERLEAVES})
TM_PRIMARY_HEADER = TM_PRIMARY_HEADER_LENGTH
AOS_PRIMARY_HEADER = AOS_PRIMARY_HEADER_LENGTH  # no frame header error control
AOS_MPDU_HEADER = MPDU_HEADER_LENGTH
TM_MAX_FRAME_LENGTH = MAX_TM_FRAME_LENGTH


class VirtualChannel(Sourced):
    """One virtual channel: which APIDs it carries. ``priority``: smaller is
    served first by the VC multiplexer."""

    vcid: int = Field(ge=0)
    name: str
    priority: int = Field(default=0, ge=0)
    apids: list[int] = Field(default_factory=list)

    _structural = frozenset({"name"})


class Band(Sourced):
    """One RF band: framing and channel coding (drives the codec).

    ``bit_rate_bps`` is the CADU stream rate (ASM + codeblock); with
    convolutional coding the channel symbol rate is twice that.
    """

    name: Literal["S", "X", "Ka"]
    bit_rate_bps: int = Field(gt=0)
    scid: int = Field(ge=0)
    frame_type: Literal["TM", "AOS"]
    frame_length: int = Field(gt=0)
    fecf: bool = True
    ocf: bool = True
    rs_interleave: int = 0
    randomizer: bool = True
    asm: str = "1ACFFC1D"
    convolutional: bool = False
    virtual_channels: list[VirtualChannel]
    idle_vcid: int = Field(ge=0)
    carrier_hz: float = Field(gt=0)
    tx_power_w: float | None = Field(default=None, gt=0)
    antenna_gain_dbi: float | None = None
    paths: list[str] = Field(default_factory=lambda: ["direct"])

    @field_validator("rs_interleave")
    @classmethod
    def _interleave(cls, value: int) -> int:
        if value not in RS_INTERLEAVES:
            raise ValueError(f"rs_interleave must be one of {sorted(RS_INTERLEAVES)}, got {value}")
        return value

    @field_validator("asm")
    @classmethod
    def _asm_hex(cls, value: str) -> str:
        if not re.fullmatch(r"(?:[0-9A-Fa-f]{2}){1,8}", value):
            raise ValueError(f"asm must be a hex string of 1..8 bytes, got {value!r}")
        return value.upper()

    @model_validator(mode="after")
    def _framing(self) -> Band:
        # CCSDS 132.0 4.1.2.2 / 732.0 4.1.2.2: SCID is 10 bits in TM, 8 in AOS;
        # VCID is 3 bits in TM, 6 in AOS.
        scid_max, vcid_max = (1024, 8) if self.frame_type == "TM" else (256, 64)
        if self.scid >= scid_max:
            raise field_error("scid", f"{self.frame_type} SCID must be < {scid_max}, got {self.scid}")
        if self.idle_vcid >= vcid_max:
            raise field_error("idle_vcid", f"{self.frame_type} VCID must be < {vcid_max}, got {self.idle_vcid}")
        seen: set[int] = set()
        for i, vc in enumerate(self.virtual_channels):
            if vc.vcid >= vcid_max:
                raise field_error(
                    f"virtual_channels.{i}.vcid",
                    f"{self.frame_type} VCID must be < {vcid_max}, got {vc.vcid}",
                )
            if vc.vcid == self.idle_vcid:
                raise field_error(f"virtual_channels.{i}.vcid", f"VCID {vc.vcid} is the idle VCID")
            if vc.vcid in seen:
                raise field_error(f"virtual_channels.{i}.vcid", f"duplicate VCID {vc.vcid}")
            seen.add(vc.vcid)
        if self.frame_type == "TM" and self.frame_length > TM_MAX_FRAME_LENGTH:
            raise field_error(
                "frame_length", f"TM frame_length must be <= {TM_MAX_FRAME_LENGTH}, got {self.frame_length}"
            )
        if self.frame_length <= self.overhead_length:
            raise field_error(
                "frame_length",
                f"frame_length {self.frame_length} leaves no data field after {self.overhead_length} header/trailer bytes",
            )
        if self.rs_interleave:
            # CCSDS 131.0-B-5 4.3.7: with interleave I the frame fills I
            # codewords of 223 - Q data symbols each (virtual fill Q).
            i = self.rs_interleave
            if self.frame_length % i or self.frame_length > RS_K * i:
                raise field_error(
                    "frame_length",
                    f"frame_length {self.frame_length} is not RS compatible with rs_interleave {i}: "
                    f"need (223 - Q) * {i} with 0 <= Q < 223 (a multiple of {i}, at most {RS_K * i})",
                )
        return self

    @property
    def overhead_length(self) -> int:
        """Header + OCF + FECF bytes in one frame (plus the M_PDU header for AOS)."""
        head = TM_PRIMARY_HEADER if self.frame_type == "TM" else AOS_PRIMARY_HEADER + AOS_MPDU_HEADER
        return head + 4 * self.ocf + 2 * self.fecf

    @property
    def asm_bytes(self) -> bytes:
        """The attached sync marker as bytes."""
        return bytes.fromhex(self.asm)

    @property
    def coding(self) -> ChannelCoding:
        """The codec's view of this band; every length and rate below is its arithmetic."""
        return ChannelCoding(
            frame_type=self.frame_type, frame_length=self.frame_length, fecf=self.fecf,
            ocf=self.ocf, rs_interleave=self.rs_interleave, randomizer=self.randomizer,
            asm=self.asm_bytes, convolutional=self.convolutional,
        )

    @property
    def rs_virtual_fill(self) -> int:
        """Virtual fill Q per codeword (0 without RS)."""
        return self.coding.virtual_fill

    @property
    def codeblock_length(self) -> int:
        """Bytes after the ASM: the frame plus 32 parity bytes per codeword."""
        return self.coding.codeblock_length

    @property
    def cadu_length(self) -> int:
        """ASM + codeblock, the unit of the ``bit_rate_bps`` stream."""
        return self.coding.cadu_length

    @property
    def frames_per_second(self) -> float:
        """Transfer frames per second at ``bit_rate_bps``."""
        return self.coding.frames_per_second(self.bit_rate_bps)

    @property
    def symbol_rate_sps(self) -> int:
        """Channel symbol rate: 2x the CADU rate with r=1/2 convolutional coding."""
        return round(self.coding.channel_symbol_rate(self.bit_rate_bps))

    def vc_of(self, apid: int) -> VirtualChannel | None:
        """The virtual channel that carries ``apid`` on this band."""
        for vc in self.virtual_channels:
            if apid in vc.apids:
                return vc
        return None


class RelayOrbit(Sourced):
    """Keplerian elements about the Moon at the sim epoch."""

    kind: str
    periapsis_altitude_km: float = Field(gt=0)
    apoapsis_altitude_km: float = Field(gt=0)
    inclination_deg: float = Field(ge=0, le=180)
    raan_deg: float = 0.0
    arg_periapsis_deg: float = 0.0
    mean_anomaly_deg: float = 0.0

    @model_validator(mode="after")
    def _order(self) -> RelayOrbit:
        if self.apoapsis_altitude_km < self.periapsis_altitude_km:
            raise field_error("apoapsis_altitude_km", "apoapsis below periapsis")
        return self


class Relay(Sourced):
    """A relay satellite (lander <-> relay <-> Earth)."""

    name: str
    bus: str | None = None
    bands: list[Literal["S", "X", "Ka"]]
    orbit: RelayOrbit
    south_pole_visibility_min: float | None = Field(default=None, ge=0, le=1)
    deployed_from: str | None = None


class GroundStation(Sourced):
    """A ground antenna (WGS84)."""

    name: str
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    altitude_m: float = 0.0
    dish_diameter_m: float | None = Field(default=None, gt=0)
    bands: list[Literal["S", "X", "Ka"]] = Field(default_factory=list)
    confirmed: bool = True


class GroundNetwork(Sourced):
    """A ground network (DSN, ESTRACK) and its stations."""

    name: str
    stations: list[GroundStation]

"""What the downlink engine knows about the band (physical channel) it transmits on."""

from __future__ import annotations

from dataclasses import dataclass

from ..ccsds import ChannelCoding, VirtualChannelConfig


@dataclass(frozen=True)
class BandSetup:
    """Everything the engine needs to know about the band it transmits on."""

    name: str
    coding: ChannelCoding
    scid: int
    bit_rate_bps: float
    channels: tuple[VirtualChannelConfig, ...]
    idle_vcid: int
    vcid_of_apid: dict[int, int]
    clcw_vcid: int = 0

    @property
    def frames_per_second(self) -> float:
        """CADUs per second at 1x: ``bit_rate_bps`` is the CADU stream rate."""
        return self.coding.frames_per_second(self.bit_rate_bps)

    @property
    def channel_symbol_rate(self) -> float:
        """Channel symbols per second (baud) on the air."""
        return self.coding.channel_symbol_rate(self.bit_rate_bps)


def playback_vcid(band: BandSetup) -> int:
    """A VCID the band does not use, for the recorder playback: the highest free one."""
    used = {c.vcid for c in band.channels} | {band.idle_vcid}
    limit = 8 if band.coding.frame_type == "TM" else 64
    for v in range(limit - 1, -1, -1):
        if v not in used:
            return v
    raise ValueError(f"band {band.name}: no free VCID for the recorder playback")

"""From a validated profile to the parts the codec and the emulator run on.

The profile (pydantic, at the edge) says *what* a lander is; this module makes
the plain objects the core works with: a :class:`ChannelCoding` and
:class:`BandSetup` per band, the :class:`TelemetryDictionary`, and the sim's
:class:`LanderParams`. Nothing per-frame ever sees pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .ccsds import ChannelCoding, VirtualChannelConfig
from .downlink.band import BandSetup
from .errors import ConfigError
from .telemetry import ChannelDef, PacketLayout, TelemetryDictionary

if TYPE_CHECKING:
    from lunar_hil.profiles.schema import Band, Profile

    from .sim.params import LanderParams

BAND_NAMES = ("S", "X", "Ka")


def pick_band(profile: Profile, name: str | None) -> Band:
    """The profile's band called ``name`` (case-insensitive); X, else the first, by default."""
    bands = list(profile.bands)
    if name is None:
        for b in bands:
            if b.name == "X":
                return b
        return bands[0]
    for b in bands:
        if b.name.lower() == name.lower():
            return b
    known = ", ".join(b.name for b in bands)
    raise ConfigError(f"--band {name}: profile {profile.id} has no such band (has: {known})")


def channel_coding(band: Band) -> ChannelCoding:
    """The codec configuration of one profile band (the schema validated its ASM)."""
    return band.coding


def band_setup(band: Band) -> BandSetup:
    """Everything the engine needs for one band."""
    vcid_of_apid: dict[int, int] = {}
    channels = []
    for vc in band.virtual_channels:
        # Profiles say "smaller priority is served first" (like a queue rank);
        # the multiplexer serves the higher number first: negate.
        channels.append(VirtualChannelConfig(vcid=vc.vcid, priority=-vc.priority))
        for apid in vc.apids:
            vcid_of_apid[apid] = vc.vcid
    return BandSetup(
        name=band.name,
        coding=channel_coding(band),
        scid=band.scid,
        bit_rate_bps=float(band.bit_rate_bps),
        channels=tuple(channels),
        idle_vcid=band.idle_vcid,
        vcid_of_apid=vcid_of_apid,
        clcw_vcid=band.virtual_channels[0].vcid if band.virtual_channels else 0,
    )


def telemetry_dictionary(profile: Profile, band: Band | None = None) -> TelemetryDictionary:
    """Packet layouts of every APID (with its VC on ``band`` when given)."""
    vc_of: dict[int, int] = {}
    if band is not None:
        for vc in band.virtual_channels:
            for apid in vc.apids:
                vc_of[apid] = vc.vcid
    layouts = []
    for a in profile.apids:
        chans = tuple(
            ChannelDef(
                name=c.name, type=c.type, unit=c.unit, source=c.source,
                low=float(c.range[0]), high=float(c.range[1]),
                scale=float(c.scale), offset=float(c.offset),
            )
            for c in a.channels
        )
        layouts.append(
            PacketLayout(
                apid=a.apid, name=a.name, rate_hz=float(a.rate_hz), channels=chans,
                science_bytes=int(a.science_bytes), vcid=vc_of.get(a.apid, 0),
            )
        )
    return TelemetryDictionary(layouts)


def lander_params(profile: Profile) -> LanderParams:
    """The sim's plain parameters: the profile's figures plus what follows from it.

    ``relay_count`` is the number of relays the profile carries (Alpine and
    Lupine for APEX, the two CP-12 relays for Series 2, none for LUPEX or
    HAKUTO-R M1); the sim would otherwise assume two.
    """
    from .sim.params import LanderParams

    mapping = dict(profile.sim_parameters())
    mapping["relay_count"] = len(profile.relays)
    return LanderParams.from_mapping(mapping)


def instrument_gates(profile: Profile) -> dict[int, str]:
    """APIDs of payload instruments are only sent while the instrument is on."""
    gates: dict[int, str] = {}
    for a in profile.apids:
        if a.instrument:
            gates[a.apid] = f"payload.{a.instrument}.on"
    return gates

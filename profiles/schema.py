"""Pydantic schema of a lander profile.

A profile is the single description of one lander that every other part of
lunar-hil reads: the sim models take :meth:`Profile.sim_parameters`, the
telemetry sampler and the XTCE writer take :attr:`Profile.apids`, the codec
takes :attr:`Profile.bands`, and the link models take :attr:`Profile.relays`
and :attr:`Profile.ground_networks`.

The pieces live in their own modules: the provenance machinery in
:mod:`.provenance`, the blocks in :mod:`.blocks` (physical), :mod:`.comms`
(bands, relays, ground networks) and :mod:`.telemetry` (APIDs, channels), and
the flattening into sim parameters in :mod:`.sim_params`. This module holds the
:class:`Profile` with its cross-block checks and re-exports the public names,
so ``from lunar_hil.profiles.schema import Band`` keeps working.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, model_validator

from lunar_hil.emulator.state_keys import INSTRUMENT_STATE_KEY, STATE_KEYS

from .blocks import (
    Command,
    CommandArg,
    Descent,
    Instrument,
    Mission,
    Navigation,
    Physical,
    Power,
    Propulsion,
    Rover,
    Site,
    TemperatureLimits,
    Thermal,
)
from .comms import (
    AOS_MPDU_HEADER,
    AOS_PRIMARY_HEADER,
    RS_INTERLEAVES,
    RS_K,
    RS_PARITY,
    TM_MAX_FRAME_LENGTH,
    TM_PRIMARY_HEADER,
    Band,
    GroundNetwork,
    GroundStation,
    Relay,
    RelayOrbit,
    VirtualChannel,
)
from .provenance import SEED_FILES, Sourced, ValueRange, check_source, field_error
from .schema_limits import check_run_limits
from .sim_params import SIM_PARAMETER_KEYS, sim_parameters
from .telemetry import APID_IDLE, CHANNEL_SIZES, CUC_LENGTH, Apid, Channel, ChannelType

__all__ = [
    "AOS_MPDU_HEADER",
    "AOS_PRIMARY_HEADER",
    "APID_IDLE",
    "CANONICAL_STATE_KEYS",
    "CHANNEL_SIZES",
    "CUC_LENGTH",
    "G0_MPS2",
    "INSTRUMENT_STATE_KEY",
    "RS_INTERLEAVES",
    "RS_K",
    "RS_PARITY",
    "SEED_FILES",
    "SIM_PARAMETER_KEYS",
    "TM_MAX_FRAME_LENGTH",
    "TM_PRIMARY_HEADER",
    "Apid",
    "Band",
    "Channel",
    "ChannelType",
    "Command",
    "CommandArg",
    "Descent",
    "GroundNetwork",
    "GroundStation",
    "Instrument",
    "Mission",
    "Navigation",
    "Physical",
    "Power",
    "Profile",
    "Propulsion",
    "Relay",
    "RelayOrbit",
    "Rover",
    "Site",
    "Sourced",
    "TemperatureLimits",
    "Thermal",
    "ValueRange",
    "VirtualChannel",
    "check_source",
    "field_error",
]

#: Every telemetry channel's ``source`` names one of these state keys (owned
#: by :mod:`lunar_hil.emulator.state_keys`) or a per-instrument key.
CANONICAL_STATE_KEYS: frozenset[str] = frozenset(STATE_KEYS)
#: Standard gravity of the rocket equation's exhaust velocity Isp * g0.
G0_MPS2 = 9.80665


class Profile(Sourced):
    """A validated lander profile."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-_]*$")
    name: str
    description: str | None = None
    mission: Mission
    site: Site
    physical: Physical
    propulsion: Propulsion
    descent: Descent
    navigation: Navigation = Field(default_factory=Navigation)
    power: Power
    thermal: Thermal
    bands: list[Band]
    relays: list[Relay] = Field(default_factory=list)
    ground_networks: list[GroundNetwork] = Field(default_factory=list)
    instruments: list[Instrument] = Field(default_factory=list)
    rovers: list[Rover] = Field(default_factory=list)
    apids: list[Apid]
    commands: list[Command] = Field(default_factory=list)

    _structural = frozenset({"id", "name", "description"})

    @model_validator(mode="after")
    def _cross_checks(self) -> Profile:
        self._check_unique()
        self._check_thermal_power()
        self._check_telemetry()
        self._check_bands()
        check_run_limits(self)
        return self

    def _check_unique(self) -> None:
        for field, key in (
            ("bands", "name"),
            ("relays", "name"),
            ("ground_networks", "name"),
            ("instruments", "id"),
            ("rovers", "id"),
            ("apids", "apid"),
            ("commands", "name"),
            ("commands", "opcode"),
        ):
            seen: set[object] = set()
            for i, item in enumerate(getattr(self, field)):
                value = getattr(item, key)
                if value in seen:
                    raise field_error(f"{field}.{i}.{key}", f"duplicate {key} {value!r}")
                seen.add(value)
        assets = {"lander"} | {r.id for r in self.rovers}
        for i, inst in enumerate(self.instruments):
            if inst.host not in assets:
                raise field_error(f"instruments.{i}.host", f"unknown host {inst.host!r} (known: {', '.join(sorted(assets))})")

    def _check_thermal_power(self) -> None:
        if self.thermal.strategy == "rps" and self.power.rps_electrical_w <= 0:
            raise field_error("power.rps_electrical_w", "thermal.strategy 'rps' needs rps_electrical_w > 0")
        if self.thermal.strategy == "heaters" and (self.power.rps_electrical_w or self.power.rps_thermal_w):
            raise field_error("power.rps_electrical_w", "thermal.strategy 'heaters' means no RPS (set 0)")
        # The conductance is the closed-MLI night leak: a profile without MLI
        # would need the bare-structure figure, which no shipped lander flies.
        if not self.thermal.mli:
            raise field_error("thermal.mli", "conductance_w_per_k is the MLI-closed leak: mli must be true")
        payload = self.physical.payload_mass_kg
        if payload is not None and self.rover_mass_kg > payload:
            raise field_error("physical.payload_mass_kg",
                              f"payload {payload:g} kg is less than the rovers it includes ({self.rover_mass_kg:g} kg)")
        if self.propellant_kg <= 0:
            raise field_error(
                "propulsion.pre_descent_delta_v_mps",
                f"leaves {self.propellant_kg:.0f} kg of propellant for powered descent (wet mass too small)",
            )

    def _check_telemetry(self) -> None:
        instruments = {i.id for i in self.instruments}
        assets = {"lander"} | {r.id for r in self.rovers}
        names: dict[str, int] = {}
        for i, apid in enumerate(self.apids):
            if apid.asset not in assets:
                raise field_error(f"apids.{i}.asset", f"unknown asset {apid.asset!r} (known: {', '.join(sorted(assets))})")
            if apid.instrument is not None and apid.instrument not in instruments:
                raise field_error(f"apids.{i}.instrument", f"unknown instrument {apid.instrument!r}")
            for j, ch in enumerate(apid.channels):
                where = f"apids.{i}.channels.{j}"
                if ch.name in names:
                    raise field_error(f"{where}.name", f"duplicate channel name {ch.name!r} (also in APID {names[ch.name]})")
                names[ch.name] = apid.apid
                key = ch.source
                match = INSTRUMENT_STATE_KEY.fullmatch(key)
                if match is not None:
                    if match.group(1) not in instruments:
                        raise field_error(f"{where}.source", f"state key {key!r} names unknown instrument {match.group(1)!r}")
                elif key not in CANONICAL_STATE_KEYS:
                    raise field_error(f"{where}.source", f"unknown state key {key!r} (see lunar_hil.emulator.state_keys)")

    def _check_bands(self) -> None:
        known = {a.apid for a in self.apids}
        relays = {r.name for r in self.relays}
        for b, band in enumerate(self.bands):
            for p, path in enumerate(band.paths):
                if path != "direct" and path not in relays:
                    raise field_error(f"bands.{b}.paths.{p}", f"path {path!r} is neither 'direct' nor a relay")
            placed: dict[int, int] = {}
            for v, vc in enumerate(band.virtual_channels):
                for a, apid in enumerate(vc.apids):
                    where = f"bands.{b}.virtual_channels.{v}.apids.{a}"
                    if apid not in known:
                        raise field_error(where, f"APID {apid} is not defined in apids")
                    if apid in placed:
                        raise field_error(where, f"APID {apid} is already on VC {placed[apid]} of band {band.name}")
                    placed[apid] = vc.vcid
            missing = sorted(known - set(placed))
            if missing:
                raise field_error(f"bands.{b}.virtual_channels", f"APIDs {missing} are on no virtual channel of band {band.name}")

    # ------------------------------------------------------------------ API

    def band(self, name: str) -> Band:
        """The band called ``name`` ('S', 'X', 'Ka'); KeyError if absent."""
        for band in self.bands:
            if band.name == name:
                return band
        raise KeyError(f"profile {self.id} has no band {name!r} (has: {', '.join(b.name for b in self.bands)})")

    def apid(self, number: int) -> Apid:
        """The APID definition with this number; KeyError if absent."""
        for apid in self.apids:
            if apid.apid == number:
                return apid
        raise KeyError(f"profile {self.id} has no APID {number}")

    def apids_of(self, asset: str) -> list[Apid]:
        """APIDs of one asset: 'lander' or a rover id."""
        return [a for a in self.apids if a.asset == asset]

    @property
    def rover_mass_kg(self) -> float:
        """Mass of the rovers carried down (part of the payload)."""
        return float(sum(r.mass_kg or 0.0 for r in self.rovers))

    @property
    def landed_mass_kg(self) -> float:
        """Dry mass plus the payload carried down; the payload mass includes the
        rovers (LUPEX: "payload at least 350 kg (lander with rover)", seed 002)."""
        payload = self.physical.payload_mass_kg
        return self.physical.dry_mass_kg + (self.rover_mass_kg if payload is None else payload)

    @property
    def descent_start_mass_kg(self) -> float:
        """Mass at powered-descent start: the wet mass after the pre-descent
        delta-v (rocket equation), or landed mass + the given propellant."""
        prop = self.propulsion
        if prop.propellant_kg is not None:
            return self.landed_mass_kg + prop.propellant_kg
        dv = prop.pre_descent_delta_v_mps or 0.0
        return self.physical.wet_mass_kg * math.exp(-dv / (prop.main_engine_isp_s * G0_MPS2))

    @property
    def propellant_kg(self) -> float:
        """Propellant at powered-descent start (see :attr:`descent_start_mass_kg`)."""
        return self.descent_start_mass_kg - self.landed_mass_kg

    def sim_parameters(self) -> dict[str, Any]:
        """The flat parameter object of the sim models (see :mod:`.sim_params`)."""
        return sim_parameters(self)

    def to_json_dict(self) -> dict[str, Any]:
        """The resolved profile as JSON-ready data (``profiles show --json``).

        Bands gain the derived ``codeblock_length``, ``cadu_length``,
        ``rs_virtual_fill`` and ``symbol_rate_sps``; APIDs gain
        ``packet_length``.
        """
        data = self.model_dump(mode="json")
        for band, out in zip(self.bands, data["bands"], strict=True):
            out["codeblock_length"] = band.codeblock_length
            out["cadu_length"] = band.cadu_length
            out["rs_virtual_fill"] = band.rs_virtual_fill
            out["symbol_rate_sps"] = band.symbol_rate_sps
            out["frames_per_second"] = band.frames_per_second
        for apid, out in zip(self.apids, data["apids"], strict=True):
            out["packet_length"] = apid.packet_length
        data["sim_parameters"] = self.sim_parameters()
        return data

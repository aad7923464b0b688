"""Pydantic schema of a lander profile.

A profile is the single description of one lander that every other part of
lunar-hil reads: the sim models take :meth:`Profile.sim_parameters`, the
telemetry sampler and the XTCE writer take :attr:`Profile.apids`, the codec
takes :attr:`Profile.bands`, and the link models take :attr:`Profile.relays`
and :attr:`Profile.ground_networks`.

Provenance
----------
Every number (and every other fact) carries its source. In YAML a value is
written either plainly, covered by the ``provenance`` of the enclosing block,
or as a fact mapping::

    wet_mass_kg: {value: 5390, source: "seed: 000_827dec95fe2123af.txt"}
    dry_mass_kg: {min: 1000, max: 1730, value: 1365,
                  source: "seed: 000_827dec95fe2123af.txt",
                  value_source: "assumed: midpoint of the seed range"}

A source is ``seed: <seed file name>[ detail]`` or ``assumed: <one-line
reason>``. On the Python side the attribute holds the plain value; the source
goes to the model's ``field_sources`` mapping (field -> source) and a seed
range to ``ranges``. A block's ``provenance`` (a source string) covers its
plain fields and is inherited by the blocks nested in it (a band's covers its
virtual channels, an APID's its channels), so structural choices carry
provenance once, at the block level. (``source`` on a telemetry channel is
the sim state key it samples, not provenance.)

Validation errors name the field: every cross-field check raises a
``field_error`` whose ``ctx['field']`` extends the error location, so the
loader can print ``FILE: bands.1.frame_length: message``.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

# The four seed documents: the only authority for facts in a profile.
SEED_FILES: tuple[str, ...] = (
    "000_827dec95fe2123af.txt",  # APEX 1.0 / Series 3 spec card
    "001_8a23aba8387cb8b0.txt",  # ispace press release: Series 2, CLPS CP-12
    "002_319938995a640147.txt",  # LUPEX encyclopedia page
    "003_c81020baac02197b.txt",  # ispace company profile: HAKUTO-R, Mission 1, rover
)

# Shared contract with the sim models: every telemetry channel's ``source``
# names one of these state keys (SI units, temperatures in degC), or one of
# the per-instrument keys ``payload.<instrument_id>.on`` /
# ``payload.<instrument_id>.data_rate_bps``.
CANONICAL_STATE_KEYS: frozenset[str] = frozenset(
    {
        "time.mission_elapsed_s",
        "sun.elevation_deg",
        "sun.azimuth_deg",
        "sun.local_time_h",
        "earth.elevation_deg",
        "power.solar_w",
        "power.load_w",
        "power.heater_w",
        "power.rps_electrical_w",
        "power.net_w",
        "power.battery_soc",
        "power.battery_energy_wh",
        "power.battery_voltage_v",
        "power.battery_current_a",
        "power.bus_voltage_v",
        "power.shed_w",
        "power.dumped_w",
        "thermal.surface_c",
        "thermal.avionics_c",
        "thermal.battery_c",
        "thermal.propulsion_c",
        "thermal.radiator_c",
        "thermal.heater_on",
        "gnc.altitude_m",
        "gnc.altitude_estimate_m",
        "gnc.vertical_velocity_mps",
        "gnc.horizontal_velocity_mps",
        "gnc.lrf_range_m",
        "gnc.lrf_valid",
        "gnc.lrf_rejected",
        "gnc.terrain_height_m",
        "gnc.roll_deg",
        "gnc.pitch_deg",
        "gnc.yaw_deg",
        "gnc.propellant_kg",
        "gnc.thrust_n",
        "gnc.phase",
        "comms.link_up",
        "comms.elevation_deg",
        "comms.relay_visible",
        "comms.tx_power_w",
        "payload.data_volume_bytes",
        "payload.data_rate_bps",
        "payload.drill_depth_m",
        "rover.deployed",
        "rover.distance_m",
        "rover.battery_soc",
        "mode.lander",
        "fault.count",
    }
)
INSTRUMENT_STATE_KEY = re.compile(r"payload\.([a-z][a-z0-9_]*)\.(on|data_rate_bps)")

#: Keys of :meth:`Profile.sim_parameters`, the flat object the sim models take.
SIM_PARAMETER_KEYS: tuple[str, ...] = (
    "site_latitude_deg",
    "site_longitude_deg",
    "dry_mass_kg",
    "wet_mass_kg",
    "propellant_kg",
    "main_engine_thrust_n",
    "main_engine_isp_s",
    "solar_array_peak_w",
    "battery_capacity_wh",
    "battery_nominal_v",
    "load_descent_w",
    "load_surface_w",
    "load_night_w",
    "heater_power_w",
    "heater_setpoint_c",
    "rps_electrical_w",
    "rps_thermal_w",
    "mli",
    "thermal_capacity_j_per_k",
    "conductance_w_per_k",
    "operating_min_c",
    "operating_max_c",
    "survival_min_c",
    "survival_max_c",
    "descent_start_altitude_m",
    "descent_start_horizontal_velocity_mps",
    "instruments",
)

_SOURCE_RE = re.compile(r"(seed|assumed): (\S.*)")
_FACT_KEYS = frozenset({"value", "source", "min", "max", "value_source"})
_BOOKKEEPING = frozenset({"provenance", "field_sources", "ranges"})


def field_error(field: str, message: str) -> PydanticCustomError:
    """A validation error located at ``field`` of the model being validated."""
    return PydanticCustomError("field_error", "{message}", {"field": field, "message": message})


def check_source(source: object) -> str:
    """Return ``source`` if it is a valid provenance string, else raise ValueError.

    Valid forms: ``seed: <one of SEED_FILES>[ detail]`` and
    ``assumed: <non-empty one-line reason>``.
    """
    if not isinstance(source, str):
        raise ValueError(f"source must be a string, got {type(source).__name__}")
    if "\n" in source or "\r" in source:
        raise ValueError("source must be one line")
    match = _SOURCE_RE.fullmatch(source.strip())
    if match is None:
        raise ValueError(
            f"source {source!r} must be 'seed: <seed file>' or 'assumed: <one-line reason>'"
        )
    kind, rest = match.groups()
    if kind == "seed":
        name = rest.split()[0]
        if name not in SEED_FILES:
            raise ValueError(f"source names unknown seed file {name!r} (known: {', '.join(SEED_FILES)})")
    return source.strip()


def _model_types(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes an annotation can hold (through Optional / list)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = get_origin(annotation)
    if origin in (list, tuple, Union, types.UnionType):
        found: list[type[BaseModel]] = []
        for arg in get_args(annotation):
            found.extend(_model_types(arg))
        return found
    return []


class ValueRange(BaseModel):
    """A range a seed document gives for a quantity (the sim uses ``value``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float
    max: float
    source: str


class Sourced(BaseModel):
    """Base of every profile block: unwraps ``{value, source}`` facts and
    checks that every explicitly given field has provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provenance: str | None = Field(default=None, description="block-level provenance")
    field_sources: dict[str, str] = Field(default_factory=dict)
    ranges: dict[str, ValueRange] = Field(default_factory=dict)

    # Fields that are names/identifiers, not facts: they need no provenance.
    _structural: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def _child_fields(cls) -> dict[str, list[type[BaseModel]]]:
        out: dict[str, list[type[BaseModel]]] = {}
        hints = typing.get_type_hints(cls)
        for name in cls.model_fields:
            kinds = _model_types(hints.get(name))
            if kinds and name not in ("ranges",):
                out[name] = kinds
        return out

    @model_validator(mode="before")
    @classmethod
    def _unwrap_facts(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        children = cls._child_fields()
        out = dict(data)
        field_sources = dict(data.get("field_sources") or {})
        ranges = dict(data.get("ranges") or {})
        block = data.get("provenance")
        if block is not None:
            try:
                check_source(block)
            except ValueError as exc:
                raise field_error("provenance", str(exc)) from None
        for key, raw in data.items():
            if key in _BOOKKEEPING or key not in cls.model_fields:
                continue
            if key in children:
                if block is not None:
                    out[key] = _inherit_source(raw, block)
                continue
            if not (isinstance(raw, dict) and "value" in raw):
                continue
            unknown = sorted(set(raw) - _FACT_KEYS)
            if unknown:
                raise field_error(key, f"unknown key(s) in fact: {', '.join(unknown)}")
            if "source" not in raw:
                raise field_error(key, "fact needs a 'source' ('seed: <file>' or 'assumed: <reason>')")
            try:
                src = check_source(raw["source"])
                value_src = check_source(raw["value_source"]) if "value_source" in raw else src
            except ValueError as exc:
                raise field_error(key, str(exc)) from None
            out[key] = raw["value"]
            field_sources[key] = value_src
            if "min" in raw or "max" in raw:
                if "min" not in raw or "max" not in raw:
                    raise field_error(key, "a range needs both 'min' and 'max'")
                ranges[key] = {"min": raw["min"], "max": raw["max"], "source": src}
        out["field_sources"] = field_sources
        out["ranges"] = ranges
        return out

    @model_validator(mode="after")
    def _check_provenance(self) -> Sourced:
        for name, src in self.field_sources.items():
            try:
                check_source(src)
            except ValueError as exc:
                raise field_error(name, str(exc)) from None
        for name, rng in self.ranges.items():
            value = getattr(self, name, None)
            if rng.min > rng.max:
                raise field_error(name, f"range min {rng.min} > max {rng.max}")
            if isinstance(value, int | float) and not rng.min <= value <= rng.max:
                raise field_error(name, f"value {value} outside its range [{rng.min}, {rng.max}]")
        if self.provenance is not None:
            return self
        children = self._child_fields()
        for name in self.model_fields_set:
            if (
                name in _BOOKKEEPING
                or name in self._structural
                or name in children
                or name in self.field_sources
                or getattr(self, name) is None
                # a value equal to the schema default is no new fact
                or getattr(self, name) == type(self).model_fields[name].get_default(call_default_factory=True)
            ):
                continue
            raise field_error(
                name,
                "no provenance: write {value: ..., source: 'seed: <file>' | 'assumed: <reason>'}"
                " or give the block a 'provenance'",
            )
        return self


def _inherit_source(raw: Any, block: str) -> Any:
    """Pass a block's provenance down to nested blocks that have none."""
    if isinstance(raw, dict) and "provenance" not in raw:
        return {**raw, "provenance": block}
    if isinstance(raw, list):
        return [_inherit_source(item, block) for item in raw]
    return raw


# --------------------------------------------------------------------------
# Identity, site, physical figures
# --------------------------------------------------------------------------


class Mission(Sourced):
    """Who flies it, which mission, when."""

    operator: str
    mission_name: str
    mission_number: int | None = None
    launch_year: int = Field(ge=2000, le=2100)
    clps_task_order: str | None = None
    launch_vehicle: str | None = None
    launch_site: str | None = None
    duration_days: float | None = Field(default=None, gt=0)
    status: str | None = None
    lander_class: str | None = None
    notes: str | None = None

    _structural = frozenset({"notes"})


class Site(Sourced):
    """Landing site (selenographic, degrees; longitude east positive)."""

    name: str
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=360)
    far_side: bool


class Physical(Sourced):
    """Masses and envelope."""

    wet_mass_kg: float = Field(gt=0)
    dry_mass_kg: float = Field(gt=0)
    height_m: float | None = Field(default=None, gt=0)
    width_m: float | None = Field(default=None, gt=0)
    payload_mass_kg: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _dry_below_wet(self) -> Physical:
        if self.dry_mass_kg > self.wet_mass_kg:
            raise field_error("dry_mass_kg", f"dry mass {self.dry_mass_kg} > wet mass {self.wet_mass_kg}")
        return self


class Propulsion(Sourced):
    """Main engine; ``propellant_kg`` defaults to wet - dry."""

    main_engine_thrust_n: float = Field(gt=0)
    main_engine_isp_s: float = Field(gt=0)
    propellant_kg: float | None = Field(default=None, gt=0)


class Descent(Sourced):
    """Initial state of the powered descent the GNC model flies."""

    start_altitude_m: float = Field(gt=0)
    start_horizontal_velocity_mps: float = Field(ge=0)
    start_vertical_velocity_mps: float = 0.0


# --------------------------------------------------------------------------
# Power and thermal
# --------------------------------------------------------------------------


class Power(Sourced):
    """Electrical power. ``load_*_w`` exclude heaters (the thermal model
    switches the heater, up to ``heater_power_w``, around ``heater_setpoint_c``)."""

    generation: str | None = None
    solar_array_peak_w: float = Field(ge=0)
    battery_chemistry: str | None = None
    battery_capacity_wh: float = Field(gt=0)
    battery_nominal_v: float = Field(gt=0)
    load_descent_w: float = Field(ge=0)
    load_surface_w: float = Field(ge=0)
    load_night_w: float = Field(ge=0)
    heater_power_w: float = Field(ge=0)
    heater_setpoint_c: float
    rps_supplier: str | None = None
    rps_electrical_w: float = Field(default=0.0, ge=0)
    rps_thermal_w: float = Field(default=0.0, ge=0)


class TemperatureLimits(Sourced):
    """Operating and survival (non-operating) limits of one unit, degC."""

    operating_min_c: float
    operating_max_c: float
    survival_min_c: float
    survival_max_c: float

    @model_validator(mode="after")
    def _nested(self) -> TemperatureLimits:
        if self.operating_min_c >= self.operating_max_c:
            raise field_error("operating_min_c", "operating_min_c must be < operating_max_c")
        if self.survival_min_c > self.operating_min_c:
            raise field_error("survival_min_c", "survival_min_c must be <= operating_min_c")
        if self.survival_max_c < self.operating_max_c:
            raise field_error("survival_max_c", "survival_max_c must be >= operating_max_c")
        return self


class Thermal(Sourced):
    """Night-survival strategy and the lumped thermal node of the sim."""

    strategy: Literal["rps", "heaters"]
    mli: bool
    tvac_min_c: float | None = None
    tvac_max_c: float | None = None
    avionics: TemperatureLimits
    battery: TemperatureLimits
    thermal_capacity_j_per_k: float = Field(gt=0)
    conductance_w_per_k: float = Field(gt=0)


# --------------------------------------------------------------------------
# Comms: bands, relays, ground networks
# --------------------------------------------------------------------------

RS_INTERLEAVES: frozenset[int] = frozenset({0, 1, 2, 3, 4, 5, 8})
TM_PRIMARY_HEADER = 6  # CCSDS 132.0-B-3 4.1.2
AOS_PRIMARY_HEADER = 6  # CCSDS 732.0-B-4 4.1.2 (no frame header error control)
AOS_MPDU_HEADER = 2  # CCSDS 732.0-B-4 4.1.4.2
TM_MAX_FRAME_LENGTH = 2048  # CCSDS 132.0-B-3 4.1.1.2
RS_K = 223  # CCSDS 131.0-B-5 4.2.2: RS(255,223), E=16
RS_PARITY = 32


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
    def rs_virtual_fill(self) -> int:
        """Virtual fill Q per codeword (0 without RS)."""
        return RS_K - self.frame_length // self.rs_interleave if self.rs_interleave else 0

    @property
    def codeblock_length(self) -> int:
        """Bytes after the ASM: the frame plus 32 parity bytes per codeword."""
        return self.frame_length + RS_PARITY * self.rs_interleave

    @property
    def cadu_length(self) -> int:
        """ASM + codeblock, the unit of the ``bit_rate_bps`` stream."""
        return len(self.asm_bytes) + self.codeblock_length

    @property
    def frames_per_second(self) -> float:
        """Transfer frames per second at ``bit_rate_bps``."""
        return self.bit_rate_bps / (8 * self.cadu_length)

    @property
    def symbol_rate_sps(self) -> int:
        """Channel symbol rate: 2x the CADU rate with r=1/2 convolutional coding."""
        return self.bit_rate_bps * (2 if self.convolutional else 1)

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


# --------------------------------------------------------------------------
# Payload, rovers, telemetry
# --------------------------------------------------------------------------


class Instrument(Sourced):
    """A payload instrument; ``id`` is used in state keys ``payload.<id>.*``."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    provider: str | None = None
    host: str = "lander"
    description: str | None = None
    components: list[str] = Field(default_factory=list)
    data_rate_bps: float = Field(ge=0)
    duty: float = Field(ge=0, le=1)

    _structural = frozenset({"id", "host", "description"})


class Rover(Sourced):
    """A rover carried by the lander (a child asset with its own APIDs)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    provider: str | None = None
    wheels: int | None = Field(default=None, gt=0)
    mass_kg: float | None = Field(default=None, gt=0)
    camera: str | None = None
    drill_max_depth_m: float | None = Field(default=None, gt=0)
    battery_capacity_wh: float | None = Field(default=None, gt=0)
    traverse_speed_mps: float | None = Field(default=None, gt=0)

    _structural = frozenset({"id"})


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
CUC_LENGTH = 6  # 4 coarse + 2 fine octets (CCSDS 301.0 3.2), the packet secondary header


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
        if lo >= hi:
            raise field_error("range", f"range min {lo} must be < max {hi}")
        if self.scale == 0:
            raise field_error("scale", "scale must not be 0")
        if self.type in _INT_LIMITS:
            tmin, tmax = _INT_LIMITS[self.type]
            raws = sorted(round((v - self.offset) / self.scale) for v in (lo, hi))
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


APID_IDLE = 0x7FF  # CCSDS 133.0-B-2 4.1.3.3.4: idle packets


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
    power: Power
    thermal: Thermal
    bands: list[Band]
    relays: list[Relay] = Field(default_factory=list)
    ground_networks: list[GroundNetwork] = Field(default_factory=list)
    instruments: list[Instrument] = Field(default_factory=list)
    rovers: list[Rover] = Field(default_factory=list)
    apids: list[Apid]

    _structural = frozenset({"id", "name", "description"})

    @model_validator(mode="after")
    def _cross_checks(self) -> Profile:
        self._check_unique()
        self._check_thermal_power()
        self._check_telemetry()
        self._check_bands()
        return self

    def _check_unique(self) -> None:
        for field, key in (
            ("bands", "name"),
            ("relays", "name"),
            ("ground_networks", "name"),
            ("instruments", "id"),
            ("rovers", "id"),
            ("apids", "apid"),
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
                    raise field_error(f"{where}.source", f"unknown state key {key!r} (see profiles.schema.CANONICAL_STATE_KEYS)")

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
    def propellant_kg(self) -> float:
        """Propellant load: as given, else wet - dry."""
        if self.propulsion.propellant_kg is not None:
            return self.propulsion.propellant_kg
        return self.physical.wet_mass_kg - self.physical.dry_mass_kg

    def sim_parameters(self) -> dict[str, Any]:
        """The flat parameter object of the sim models (SI units, plain floats)."""
        limits = self.thermal.avionics
        params: dict[str, Any] = {
            "site_latitude_deg": float(self.site.latitude_deg),
            "site_longitude_deg": float(self.site.longitude_deg),
            "dry_mass_kg": float(self.physical.dry_mass_kg),
            "wet_mass_kg": float(self.physical.wet_mass_kg),
            "propellant_kg": float(self.propellant_kg),
            "main_engine_thrust_n": float(self.propulsion.main_engine_thrust_n),
            "main_engine_isp_s": float(self.propulsion.main_engine_isp_s),
            "solar_array_peak_w": float(self.power.solar_array_peak_w),
            "battery_capacity_wh": float(self.power.battery_capacity_wh),
            "battery_nominal_v": float(self.power.battery_nominal_v),
            "load_descent_w": float(self.power.load_descent_w),
            "load_surface_w": float(self.power.load_surface_w),
            "load_night_w": float(self.power.load_night_w),
            "heater_power_w": float(self.power.heater_power_w),
            "heater_setpoint_c": float(self.power.heater_setpoint_c),
            "rps_electrical_w": float(self.power.rps_electrical_w),
            "rps_thermal_w": float(self.power.rps_thermal_w),
            "mli": bool(self.thermal.mli),
            "thermal_capacity_j_per_k": float(self.thermal.thermal_capacity_j_per_k),
            "conductance_w_per_k": float(self.thermal.conductance_w_per_k),
            "operating_min_c": float(limits.operating_min_c),
            "operating_max_c": float(limits.operating_max_c),
            "survival_min_c": float(limits.survival_min_c),
            "survival_max_c": float(limits.survival_max_c),
            "descent_start_altitude_m": float(self.descent.start_altitude_m),
            "descent_start_horizontal_velocity_mps": float(self.descent.start_horizontal_velocity_mps),
            "instruments": [
                {"id": i.id, "name": i.name, "data_rate_bps": float(i.data_rate_bps), "duty": float(i.duty)}
                for i in self.instruments
            ],
        }
        assert tuple(params) == SIM_PARAMETER_KEYS
        return params

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

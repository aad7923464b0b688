"""The physical blocks of a lander profile: identity, site, masses, engine,
descent, power, thermal, payload instruments and rovers.

Each block is a :class:`~.provenance.Sourced` model: plain values are covered
by the block's ``provenance``, facts carry their own source.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .provenance import Sourced, field_error

__all__ = [
    "Command",
    "CommandArg",
    "Descent",
    "Instrument",
    "Mission",
    "Navigation",
    "Physical",
    "Power",
    "Propulsion",
    "Rover",
    "Site",
    "TemperatureLimits",
    "Thermal",
]


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
    """Landing site (selenographic, degrees; longitude east positive).
    ``night_floor_k``: pre-dawn regolith temperature; by default it follows
    the latitude (100 K at the equator, 90 K poleward of 80 degrees)."""

    name: str
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=360)
    far_side: bool
    night_floor_k: float | None = Field(default=None, gt=0, le=400)


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
    """Main engine and the propellant left when powered descent starts.

    Give either ``propellant_kg`` (at powered-descent start) or
    ``pre_descent_delta_v_mps``, the delta-v spent between launch-vehicle
    separation and powered descent (cruise, lunar orbit insertion, orbit
    lowering): the rocket equation then leaves
    ``wet * exp(-dv / (Isp g0)) - dry - payload`` of propellant.
    """

    main_engine_thrust_n: float = Field(gt=0)
    main_engine_isp_s: float = Field(gt=0)
    propellant_kg: float | None = Field(default=None, gt=0)
    pre_descent_delta_v_mps: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_budget(self) -> Propulsion:
        if self.propellant_kg is not None and self.pre_descent_delta_v_mps is not None:
            raise field_error("pre_descent_delta_v_mps",
                              "give either propellant_kg or pre_descent_delta_v_mps, not both")
        return self


class Descent(Sourced):
    """Initial state of the powered descent the GNC model flies."""

    start_altitude_m: float = Field(gt=0)
    start_horizontal_velocity_mps: float = Field(ge=0)
    start_vertical_velocity_mps: float = 0.0
    terminal_descent_mps: float = Field(default=1.5, gt=0)
    touchdown_max_vertical_mps: float = Field(default=3.0, gt=0)


class Navigation(Sourced):
    """The altitude estimator's laser range finder (LRF) and its innovation gate.

    ``terrain_aware_gate``: readings refused by the gate that agree with each
    other (a step in the terrain) re-acquire the sensor; without it they only
    count towards declaring it failed (the HAKUTO-R Mission 1 logic).
    """

    lrf_max_range_m: float = Field(default=20000.0, gt=0)
    lrf_gate_m: float = Field(default=500.0, gt=0)
    terrain_aware_gate: bool = False


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
    # Array mounting: tilt from horizontal of an azimuth-tracking array (90 =
    # vertical), or a two-axis sun-tracking array.
    solar_array_tilt_deg: float = Field(default=90.0, ge=0, le=90)
    solar_array_sun_tracking: bool = False
    # Battery protection.
    battery_dod_limit: float = Field(default=0.8, gt=0, le=1)
    battery_cutoff_v: float = Field(default=0.0, ge=0)
    battery_charge_min_c: float = 0.0

    @model_validator(mode="after")
    def _cutoff_below_nominal(self) -> Power:
        if self.battery_cutoff_v >= self.battery_nominal_v:
            raise field_error("battery_cutoff_v", "low-voltage cut-off must be below the nominal voltage")
        return self


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
# Payload and rovers
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


# --------------------------------------------------------------------------
# Telecommands
# --------------------------------------------------------------------------

CommandArgType = Literal["u8", "u16", "u32", "i8", "i16", "i32", "f32", "f64"]


class CommandArg(Sourced):
    """One telecommand argument: its wire type, accepted range and unit."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: CommandArgType
    range: tuple[float, float]
    unit: str = ""

    _structural = frozenset({"name", "unit"})

    @model_validator(mode="after")
    def _range_order(self) -> CommandArg:
        if self.range[0] > self.range[1]:
            raise field_error("range", f"range min {self.range[0]} > max {self.range[1]}")
        return self


class Command(Sourced):
    """A telecommand the lander accepts (name, opcode, arguments)."""

    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    opcode: int = Field(ge=0, le=0xFF)
    args: list[CommandArg] = Field(default_factory=list)
    description: str | None = None

    _structural = frozenset({"name", "description"})

"""Plain physical parameters of one lander, the input of :class:`LanderSimulation`.

The profiles (pydantic, in ``profiles/``) are the user-facing description of a
lander; the integrator's adapter turns one into a :class:`LanderParams`. This
module has no pydantic on purpose: the simulation only needs numbers.

All values are SI (W, Wh, kg, N, s, m) except temperatures (°C) and angles
(degrees). The defaults describe a *generic medium lander* of the APEX 1.0 /
Series 3 class (seed ``000_827dec95fe2123af.txt``) in its JP, heater-based
night-survival variant; every number that is not in a seed document is an
assumption and says why next to it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..errors import ConfigError

__all__ = ["PRESETS", "CommandArgParams", "CommandParams", "InstrumentParams", "LanderParams"]


@dataclass(frozen=True)
class InstrumentParams:
    """One science instrument: a lowercase ``id`` (``gpr``, ``ns``, ``alis``...),
    a display name, its data rate while on (bit/s) and its duty cycle (0..1)."""

    id: str
    name: str = ""
    data_rate_bps: float = 0.0
    duty: float = 1.0

    def __post_init__(self) -> None:
        if not self.id or not self.id.replace("_", "").isalnum() or self.id != self.id.lower():
            raise ConfigError(f"instrument id {self.id!r}: must be a lowercase name like 'gpr'")
        if not (self.data_rate_bps >= 0.0 and math.isfinite(self.data_rate_bps)):
            raise ConfigError(f"instrument {self.id}: data_rate_bps must be >= 0")
        if not 0.0 <= self.duty <= 1.0:
            raise ConfigError(f"instrument {self.id}: duty must be in 0..1")


@dataclass(frozen=True)
class CommandArgParams:
    """One argument of a telecommand: its name and the closed range it accepts."""

    name: str
    low: float
    high: float
    integer: bool = True


@dataclass(frozen=True)
class CommandParams:
    """One telecommand the lander accepts: name, opcode and arguments."""

    name: str
    opcode: int
    args: tuple[CommandArgParams, ...] = ()


@dataclass(frozen=True)
class LanderParams:
    """Physical parameters of a lander (SI units, °C, degrees). Defaults: a
    generic medium lander, JP variant (MLI + heaters, no RPS)."""

    # Site. Default: Schrödinger basin centre (REFERENCE.md), the APEX 1.0 /
    # Mission 3 target (seed 000); far side, so the Earth is never in view.
    site_latitude_deg: float = -75.0
    site_longitude_deg: float = 132.4

    # Masses. Seed 000: dry mass 1000-1730 kg, wet mass 5390 kg at launch (not
    # used by the dynamics: most of it is burnt before powered descent). The
    # propellant left at powered-descent start is assumed: 2.4 km/s of delta-v
    # at Isp 320 s, for ~1.7 km/s of braking plus gravity losses and ~15 % margin.
    dry_mass_kg: float = 1300.0
    wet_mass_kg: float = 5390.0
    propellant_kg: float = 1500.0
    # Main engine: assumed storable bipropellant (MMH/MON) class, Isp ~320 s;
    # thrust gives T/W ~ 2.6 lunar g at ignition, so braking takes ~5 minutes.
    # Payload carried to the surface: part of the landed mass the engine decelerates.
    payload_mass_kg: float = 0.0
    main_engine_thrust_n: float = 12000.0
    main_engine_isp_s: float = 320.0

    # Power. Assumed: ~1 kW body/deployable arrays, 28 V Li-ion battery sized for
    # the ~15-day polar night on heaters (20 kWh, ~130 kg of cells at 150 Wh/kg).
    solar_array_peak_w: float = 1000.0
    battery_capacity_wh: float = 24000.0
    battery_nominal_v: float = 28.0
    load_descent_w: float = 450.0  # avionics + GNC sensors + engine valves (assumed)
    load_surface_w: float = 350.0  # day operations incl. comms and payload power (assumed)
    load_night_w: float = 20.0  # survival mode: receiver + keep-alive avionics (assumed)
    load_cruise_w: float = 300.0  # coast in lunar orbit (assumed)
    heater_power_w: float = 80.0  # survival heaters, thermostat-controlled (assumed)
    heater_setpoint_c: float = -10.0  # heater on below this ...
    heater_hysteresis_k: float = 3.0  # ... and off above setpoint + hysteresis
    # RPS (US variant, Zeno Power): 0 W means no RPS (JP variant). Assumed values
    # for a ~50 We class system converting ~8 % of its heat.
    rps_electrical_w: float = 0.0
    rps_thermal_w: float = 0.0
    rps_heat_coupling: float = 0.5  # fraction of RPS waste heat that warms the lander
    battery_charge_efficiency: float = 0.95
    battery_discharge_efficiency: float = 0.95
    # Battery protection (assumed typical Li-ion practice): the battery is never
    # discharged deeper than this fraction of its capacity, never below the
    # low-voltage cut-off, and never charged below battery_charge_min_c.
    battery_dod_limit: float = 0.8
    battery_cutoff_v: float = 25.2  # 3.6 V x 7 cells: 0.9 of a 28 V string
    battery_charge_min_c: float = 0.0
    battery_operating_min_c: float = -10.0
    battery_operating_max_c: float = 40.0
    battery_survival_min_c: float = -20.0
    battery_survival_max_c: float = 50.0
    bus_voltage_v: float = 28.0  # regulated bus while powered

    # Thermal (lumped avionics node + battery, propulsion and radiator nodes).
    mli: bool = True
    thermal_capacity_j_per_k: float = 1.2e5  # ~130 kg of Al-equivalent equipment deck
    # Leak of the closed (MLI-covered, louvres shut) lander to the environment:
    # the profile gives it with MLI already counted, so it is used as is.
    conductance_w_per_k: float = 0.2  # ~36 W at night against a ~-195 degC sink (assumed)
    radiator_conductance_w_per_k: float = 20.0  # louvers fully open (assumed)
    louver_open_c: float = 15.0  # louvers start opening here ...
    louver_full_c: float = 30.0  # ... and are fully open here
    radiator_ground_view_factor: float = 0.25  # radiator sees mostly sky
    body_ground_view_factor: float = 0.5  # body sides see half regolith, half sky
    initial_temperature_c: float = 15.0
    # Seed 000: JP variant verified in TVAC from +130 to -140 °C; that is the
    # structure. Electronics limits below are typical qualification values (assumed).
    operating_min_c: float = -20.0
    operating_max_c: float = 50.0
    survival_min_c: float = -40.0
    survival_max_c: float = 70.0

    # Solar array orientation: tilt from the horizontal of an azimuth-tracking
    # array (90 = vertical, as polar landers fly them, facing a Sun that stays
    # near the horizon), or a two-axis sun-tracking array (tilt unused).
    solar_array_tilt_deg: float = 90.0
    solar_array_sun_tracking: bool = False
    # Regolith night floor (K). None: from the site latitude (see sun.night_floor_k).
    regolith_night_floor_k: float | None = None

    # Descent (REFERENCE.md: powered descent from about 15 km; lunar orbital
    # speed at that height is ~1.69 km/s).
    descent_start_altitude_m: float = 15000.0
    descent_start_horizontal_velocity_mps: float = 1690.0
    descent_start_vertical_velocity_mps: float = 0.0
    orbit_altitude_m: float = 100000.0  # cruise (coast in lunar orbit)
    terminal_descent_mps: float = 1.5  # constant-rate final descent until contact
    touchdown_max_vertical_mps: float = 3.0  # legs survive below this (assumed)
    lrf_max_range_m: float = 20000.0
    lrf_noise_fraction: float = 0.002
    lrf_gate_m: float = 500.0  # estimator rejects readings further than this from its estimate
    # Terrain-aware gate: refused readings that agree with each other (a step
    # in the terrain, not a sensor fault) re-acquire the sensor (APEX 1.0 after
    # HAKUTO-R, seed 000). False: refused readings only count towards failure.
    lrf_terrain_aware_gate: bool = False
    attitude_slew_deg_per_s: float = 10.0  # assumed RCS slew rate limit of the thrust axis
    initial_altitude_error_m: float = 50.0  # 1-sigma orbit-determination error

    # Comms. Assumed: X-band transmitter ~20 W RF; 5° minimum elevation.
    tx_power_w: float = 20.0
    min_link_elevation_deg: float = 5.0
    relay_count: int = 2  # relays carried: Alpine and Lupine (seed 000; Series 2: seed 001)
    relay_visible_fraction: float = 0.7  # seed 000: >70 % visibility from polar orbits
    relay_period_s: float = 12.0 * 3600.0  # assumed high polar orbit period

    # Payload and rover.
    instruments: tuple[InstrumentParams, ...] = ()
    has_drill: bool = False  # LUPEX drill to 1.5 m (seed 002)
    drill_rate_m_per_h: float = 0.05
    has_rover: bool = False
    rover_deploy_delay_s: float = 6.0 * 3600.0
    rover_speed_mps: float = 0.02
    rover_battery_wh: float = 100.0
    rover_mass_kg: float = 0.0  # carried until deployment (part of the landed mass)
    drill_max_depth_m: float = 1.5

    # Telecommands the lander accepts (name, opcode, argument ranges).
    commands: tuple[CommandParams, ...] = ()

    # Numerical steps (s): thermal and power are slow on the surface.
    descent_step_s: float = 0.1
    cruise_step_s: float = 10.0
    surface_step_s: float = 60.0

    def __post_init__(self) -> None:
        positive = (
            "dry_mass_kg", "main_engine_isp_s", "battery_capacity_wh", "battery_nominal_v",
            "thermal_capacity_j_per_k", "descent_step_s", "cruise_step_s", "surface_step_s",
            "attitude_slew_deg_per_s", "rover_battery_wh", "drill_max_depth_m",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"lander parameter {name}: must be > 0")
        non_negative = (
            "propellant_kg", "main_engine_thrust_n", "solar_array_peak_w", "load_descent_w",
            "load_surface_w", "load_night_w", "load_cruise_w", "heater_power_w",
            "rps_electrical_w", "rps_thermal_w", "conductance_w_per_k",
            "radiator_conductance_w_per_k", "descent_start_altitude_m", "tx_power_w",
            "payload_mass_kg", "battery_cutoff_v", "rover_mass_kg",
        )
        for name in non_negative:
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ConfigError(f"lander parameter {name}: must be >= 0")
        for name in ("battery_charge_efficiency", "battery_discharge_efficiency",
                     "battery_dod_limit", "relay_visible_fraction"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"lander parameter {name}: must be in (0, 1]")
        if not 0.0 <= self.rps_heat_coupling <= 1.0:
            raise ConfigError("lander parameter rps_heat_coupling: must be in 0..1")
        if not -90.0 <= self.site_latitude_deg <= 90.0:
            raise ConfigError("lander parameter site_latitude_deg: must be in -90..90")
        if not (self.operating_min_c < self.operating_max_c
                and self.survival_min_c <= self.operating_min_c
                and self.survival_max_c >= self.operating_max_c):
            raise ConfigError("lander parameters: need survival_min <= operating_min < "
                              "operating_max <= survival_max")
        if not 0.0 <= self.solar_array_tilt_deg <= 90.0:
            raise ConfigError("lander parameter solar_array_tilt_deg: must be in 0..90")
        if self.regolith_night_floor_k is not None and not self.regolith_night_floor_k > 0:
            raise ConfigError("lander parameter regolith_night_floor_k: must be > 0")
        if self.relay_count < 0:
            raise ConfigError("lander parameter relay_count: must be >= 0")

    @property
    def has_rps(self) -> bool:
        """True for the US variant (radioisotope power system)."""
        return self.rps_electrical_w > 0.0 or self.rps_thermal_w > 0.0

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> LanderParams:
        """Build from a plain mapping (YAML, JSON). Unknown keys and values of the
        wrong type raise :class:`ConfigError` naming the key."""
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in m.items():
            if key not in known:
                raise ConfigError(f"lander parameter {key!r}: unknown key")
            if key == "instruments":
                kwargs[key] = tuple(_instrument(item, i) for i, item in enumerate(value or ()))
            elif key == "commands":
                kwargs[key] = tuple(_command(item, i) for i, item in enumerate(value or ()))
            elif key in ("mli", "has_rover", "has_drill", "lrf_terrain_aware_gate",
                         "solar_array_sun_tracking"):
                if not isinstance(value, bool):
                    raise ConfigError(f"lander parameter {key}: must be true or false")
                kwargs[key] = value
            elif key in ("relay_count",):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ConfigError(f"lander parameter {key}: must be an integer")
                kwargs[key] = value
            elif key == "regolith_night_floor_k" and value is None:
                kwargs[key] = None
            else:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ConfigError(f"lander parameter {key}: must be a number, got {value!r}")
                kwargs[key] = float(value)
        return cls(**kwargs)

    def replace(self, **changes: Any) -> LanderParams:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _instrument(item: Any, index: int) -> InstrumentParams:
    if isinstance(item, InstrumentParams):
        return item
    if not isinstance(item, Mapping):
        raise ConfigError(f"lander parameter instruments[{index}]: must be a mapping")
    unknown = set(item) - {"id", "name", "data_rate_bps", "duty"}
    if unknown:
        raise ConfigError(f"lander parameter instruments[{index}].{sorted(unknown)[0]}: unknown key")
    try:
        return InstrumentParams(
            id=str(item["id"]),
            name=str(item.get("name", item["id"])),
            data_rate_bps=float(item.get("data_rate_bps", 0.0)),
            duty=float(item.get("duty", 1.0)),
        )
    except KeyError as exc:
        raise ConfigError(f"lander parameter instruments[{index}].id: missing") from exc
    except (TypeError, ValueError, ConfigError) as exc:
        raise ConfigError(f"lander parameter instruments[{index}]: {exc}") from exc


def _command(item: Any, index: int) -> CommandParams:
    if isinstance(item, CommandParams):
        return item
    if not isinstance(item, Mapping) or "name" not in item or "opcode" not in item:
        raise ConfigError(f"lander parameter commands[{index}]: needs name and opcode")
    args = []
    for j, arg in enumerate(item.get("args", ()) or ()):
        try:
            args.append(CommandArgParams(str(arg["name"]), float(arg["low"]), float(arg["high"]),
                                         bool(arg.get("integer", True))))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"lander parameter commands[{index}].args[{j}]: {exc}") from exc
    return CommandParams(str(item["name"]), int(item["opcode"]), tuple(args))


# Named parameter sets for tests, benchmarks and profile-less runs.
PRESETS: dict[str, LanderParams] = {
    # JP variant (Series 3): MLI + active heaters, no RPS (seed 000).
    "generic-heater": LanderParams(),
    # US variant (APEX 1.0): Zeno Power RPS (seed 000); with RPS heat the
    # heaters are rarely needed, so the battery is the day-sized one (assumed).
    "generic-rps": LanderParams(
        rps_electrical_w=50.0, rps_thermal_w=600.0, battery_capacity_wh=6000.0,
    ),
}

"""Flattening a profile into the plain parameters of the sim models.

:func:`sim_parameters` is the one place where profile blocks become the flat,
SI-unit mapping that :class:`lunar_hil.emulator.sim.params.LanderParams` takes.

Every field of a profile either reaches the sim through here, is consumed by
another model (:data:`LINK_MODEL_FIELDS`), or is pure description
(:data:`METADATA_FIELDS`, each with its reason);
``tests/profiles/test_fields_drive_the_model.py`` perturbs every numeric and
boolean field of every shipped profile and checks that the schema rejects it or
that what the run is built from changes (and, for a sample of physics fields,
the simulated state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .schema import Profile

__all__ = ["LINK_MODEL_FIELDS", "METADATA_FIELDS", "SIM_PARAMETER_KEYS", "sim_parameters"]

#: Keys of :func:`sim_parameters`, the flat object the sim models take.
SIM_PARAMETER_KEYS: tuple[str, ...] = (
    "site_latitude_deg",
    "site_longitude_deg",
    "regolith_night_floor_k",
    "dry_mass_kg",
    "wet_mass_kg",
    "payload_mass_kg",
    "propellant_kg",
    "main_engine_thrust_n",
    "main_engine_isp_s",
    "solar_array_peak_w",
    "solar_array_tilt_deg",
    "solar_array_sun_tracking",
    "battery_capacity_wh",
    "battery_nominal_v",
    "battery_dod_limit",
    "battery_cutoff_v",
    "battery_charge_min_c",
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
    "battery_operating_min_c",
    "battery_operating_max_c",
    "battery_survival_min_c",
    "battery_survival_max_c",
    "descent_start_altitude_m",
    "descent_start_horizontal_velocity_mps",
    "descent_start_vertical_velocity_mps",
    "terminal_descent_mps",
    "touchdown_max_vertical_mps",
    "lrf_max_range_m",
    "lrf_gate_m",
    "lrf_terrain_aware_gate",
    "tx_power_w",
    "relay_count",
    "has_rover",
    "rover_mass_kg",
    "rover_speed_mps",
    "rover_battery_wh",
    "has_drill",
    "drill_max_depth_m",
    "instruments",
    "commands",
)

#: Profile fields the links model (``lunar_hil.emulator.links``) consumes:
#: relay orbits and visibility, transmitter power, antenna gain, carrier
#: frequency and the ground networks. (The sim takes only the relay count and
#: the highest band's TX power for ``comms.tx_power_w``.)
LINK_MODEL_FIELDS: frozenset[str] = frozenset({
    "relays", "ground_networks", "bands.*.tx_power_w", "bands.*.antenna_gain_dbi",
    "bands.*.carrier_hz", "bands.*.paths",
})

#: Fields that describe the lander and drive no model, each with the reason.
#: Patterns are dotted profile paths (``fnmatch``: ``*`` also spans list
#: indices and nested keys). Strings (names, descriptions, suppliers) never
#: reach a model by construction; the numbers and flags listed here are the
#: ones a reader could expect to, and why they do not.
#: ``tests/profiles/test_fields_drive_the_model.py`` fails when a numeric or
#: boolean field is neither here nor changes what the run is built from, and
#: when a field listed here does change it.
METADATA_FIELDS: dict[str, str] = {
    "id": "the profile's name on the command line",
    "name": "display name",
    "description": "prose",
    "mission.*": "who flies it and when (operator, mission number, launch year, planned "
                 "duration, status): the scenario epoch and duration set the run",
    "site.name": "display name of the site; latitude and longitude drive the models",
    "site.far_side": "a label of the site: the links model computes Earth visibility from "
                     "latitude and longitude (tests/links check Schroedinger sees no Earth)",
    "physical.height_m": "envelope: no model uses the lander's geometry",
    "physical.width_m": "envelope: no model uses the lander's geometry",
    "power.generation": "prose (solar + battery, RPS)",
    "power.battery_chemistry": "prose; the battery model is capacity, voltage and limits",
    "power.rps_supplier": "supplier name; rps_electrical_w / rps_thermal_w drive the model",
    "thermal.strategy": "heaters or RPS: checked against the RPS figures, which drive the model",
    "thermal.tvac_min_c": "the structure's TVAC qualification span (seed 000): documents "
                          "the unit limits in thermal.avionics / thermal.battery, which drive the model",
    "thermal.tvac_max_c": "as thermal.tvac_min_c",
    "relays.*.bus": "the relay's bus name",
    "relays.*.deployed_from": "prose: where the relay rides before deployment",
    "relays.*.south_pole_visibility_min": "the seed's claim (>70 %): the links model computes "
                                         "visibility from the orbit, which the claim is checked against",
    "ground_networks.*.stations.*.confirmed": "provenance mark: REFERENCE.md flags the "
                                              "coordinates as unconfirmed; the station is used either way",
    "rovers.*.name": "display name",
    "rovers.*.provider": "supplier name",
    "rovers.*.wheels": "the rover's wheel count: the traverse model is a speed, not a vehicle",
    "rovers.*.camera": "prose",
    "instruments.*.name": "display name",
    "instruments.*.provider": "supplier name",
    "instruments.*.host": "which asset carries it (checked against the rovers)",
    "instruments.*.description": "prose",
    "instruments.*.components": "prose: the sub-instruments of a package",
    "*.provenance": "where the block's plain values come from",
    "*.field_sources": "where each fact comes from",
    "*.ranges.*": "the seed's range of a quantity; the value chosen in it drives the model",
}


def sim_parameters(profile: Profile) -> dict[str, Any]:
    """The flat parameter object of the sim models (SI units, plain floats)."""
    limits = profile.thermal.avionics
    battery = profile.thermal.battery
    power = profile.power
    drills = [r.drill_max_depth_m for r in profile.rovers if r.drill_max_depth_m]
    rover = profile.rovers[0] if profile.rovers else None
    tx_powers = [b.tx_power_w for b in profile.bands if b.tx_power_w is not None]
    params: dict[str, Any] = {
        "site_latitude_deg": float(profile.site.latitude_deg),
        "site_longitude_deg": float(profile.site.longitude_deg),
        "regolith_night_floor_k": (None if profile.site.night_floor_k is None
                                   else float(profile.site.night_floor_k)),
        "dry_mass_kg": float(profile.physical.dry_mass_kg),
        "wet_mass_kg": float(profile.physical.wet_mass_kg),
        # The sim carries the rovers separately (until deployment): the payload
        # mass of a profile includes them.
        "payload_mass_kg": float(profile.landed_mass_kg - profile.physical.dry_mass_kg
                                 - profile.rover_mass_kg),
        "propellant_kg": float(profile.propellant_kg),
        "main_engine_thrust_n": float(profile.propulsion.main_engine_thrust_n),
        "main_engine_isp_s": float(profile.propulsion.main_engine_isp_s),
        "solar_array_peak_w": float(power.solar_array_peak_w),
        "solar_array_tilt_deg": float(power.solar_array_tilt_deg),
        "solar_array_sun_tracking": bool(power.solar_array_sun_tracking),
        "battery_capacity_wh": float(power.battery_capacity_wh),
        "battery_nominal_v": float(power.battery_nominal_v),
        "battery_dod_limit": float(power.battery_dod_limit),
        "battery_cutoff_v": float(power.battery_cutoff_v),
        "battery_charge_min_c": float(power.battery_charge_min_c),
        "load_descent_w": float(power.load_descent_w),
        "load_surface_w": float(power.load_surface_w),
        "load_night_w": float(power.load_night_w),
        "heater_power_w": float(power.heater_power_w),
        "heater_setpoint_c": float(power.heater_setpoint_c),
        "rps_electrical_w": float(power.rps_electrical_w),
        "rps_thermal_w": float(power.rps_thermal_w),
        "mli": bool(profile.thermal.mli),
        "thermal_capacity_j_per_k": float(profile.thermal.thermal_capacity_j_per_k),
        "conductance_w_per_k": float(profile.thermal.conductance_w_per_k),
        "operating_min_c": float(limits.operating_min_c),
        "operating_max_c": float(limits.operating_max_c),
        "survival_min_c": float(limits.survival_min_c),
        "survival_max_c": float(limits.survival_max_c),
        "battery_operating_min_c": float(battery.operating_min_c),
        "battery_operating_max_c": float(battery.operating_max_c),
        "battery_survival_min_c": float(battery.survival_min_c),
        "battery_survival_max_c": float(battery.survival_max_c),
        "descent_start_altitude_m": float(profile.descent.start_altitude_m),
        "descent_start_horizontal_velocity_mps": float(profile.descent.start_horizontal_velocity_mps),
        "descent_start_vertical_velocity_mps": float(profile.descent.start_vertical_velocity_mps),
        "terminal_descent_mps": float(profile.descent.terminal_descent_mps),
        "touchdown_max_vertical_mps": float(profile.descent.touchdown_max_vertical_mps),
        "lrf_max_range_m": float(profile.navigation.lrf_max_range_m),
        "lrf_gate_m": float(profile.navigation.lrf_gate_m),
        "lrf_terrain_aware_gate": bool(profile.navigation.terrain_aware_gate),
        "tx_power_w": float(max(tx_powers)) if tx_powers else 0.0,
        "relay_count": len(profile.relays),
        "has_rover": bool(profile.rovers),
        "rover_mass_kg": profile.rover_mass_kg,
        "rover_speed_mps": float(rover.traverse_speed_mps or 0.02) if rover else 0.02,
        "rover_battery_wh": float(rover.battery_capacity_wh or 100.0) if rover else 100.0,
        "has_drill": bool(drills),
        "drill_max_depth_m": float(max(drills)) if drills else 1.5,
        "instruments": [
            {"id": i.id, "name": i.name, "data_rate_bps": float(i.data_rate_bps), "duty": float(i.duty)}
            for i in profile.instruments
        ],
        "commands": [
            {
                "name": c.name, "opcode": c.opcode,
                "args": [
                    {"name": a.name, "low": float(a.range[0]), "high": float(a.range[1]),
                     "integer": a.type[0] in "ui"}
                    for a in c.args
                ],
            }
            for c in profile.commands
        ],
    }
    if tuple(params) != SIM_PARAMETER_KEYS:  # the key list is the contract with LanderParams
        raise AssertionError("sim_parameters keys drifted from SIM_PARAMETER_KEYS")
    return params

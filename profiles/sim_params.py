"""Flattening a profile into the plain parameters of the sim models.

:func:`sim_parameters` is the one place where profile blocks become the flat,
SI-unit mapping that :class:`lunar_hil.emulator.sim.params.LanderParams` takes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .schema import Profile

__all__ = ["SIM_PARAMETER_KEYS", "sim_parameters"]

#: Keys of :func:`sim_parameters`, the flat object the sim models take.
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


def sim_parameters(profile: Profile) -> dict[str, Any]:
    """The flat parameter object of the sim models (SI units, plain floats)."""
    limits = profile.thermal.avionics
    params: dict[str, Any] = {
        "site_latitude_deg": float(profile.site.latitude_deg),
        "site_longitude_deg": float(profile.site.longitude_deg),
        "dry_mass_kg": float(profile.physical.dry_mass_kg),
        "wet_mass_kg": float(profile.physical.wet_mass_kg),
        "propellant_kg": float(profile.propellant_kg),
        "main_engine_thrust_n": float(profile.propulsion.main_engine_thrust_n),
        "main_engine_isp_s": float(profile.propulsion.main_engine_isp_s),
        "solar_array_peak_w": float(profile.power.solar_array_peak_w),
        "battery_capacity_wh": float(profile.power.battery_capacity_wh),
        "battery_nominal_v": float(profile.power.battery_nominal_v),
        "load_descent_w": float(profile.power.load_descent_w),
        "load_surface_w": float(profile.power.load_surface_w),
        "load_night_w": float(profile.power.load_night_w),
        "heater_power_w": float(profile.power.heater_power_w),
        "heater_setpoint_c": float(profile.power.heater_setpoint_c),
        "rps_electrical_w": float(profile.power.rps_electrical_w),
        "rps_thermal_w": float(profile.power.rps_thermal_w),
        "mli": bool(profile.thermal.mli),
        "thermal_capacity_j_per_k": float(profile.thermal.thermal_capacity_j_per_k),
        "conductance_w_per_k": float(profile.thermal.conductance_w_per_k),
        "operating_min_c": float(limits.operating_min_c),
        "operating_max_c": float(limits.operating_max_c),
        "survival_min_c": float(limits.survival_min_c),
        "survival_max_c": float(limits.survival_max_c),
        "descent_start_altitude_m": float(profile.descent.start_altitude_m),
        "descent_start_horizontal_velocity_mps": float(profile.descent.start_horizontal_velocity_mps),
        "instruments": [
            {"id": i.id, "name": i.name, "data_rate_bps": float(i.data_rate_bps), "duty": float(i.duty)}
            for i in profile.instruments
        ],
    }
    if tuple(params) != SIM_PARAMETER_KEYS:  # the key list is the contract with LanderParams
        raise AssertionError("sim_parameters keys drifted from SIM_PARAMETER_KEYS")
    return params

"""The sim's state keys: the one contract between physics and telemetry.

The simulation produces one value per key at every step; a profile's telemetry
channel names the key it samples in its ``source``; the telemetry dictionary
and the sampler read the same names. Keys are ``subsystem.quantity`` in SI
units (temperatures in degC, angles in degrees). Per-instrument keys
``payload.<instrument_id>.on`` and ``payload.<instrument_id>.data_rate_bps``
come on top, one pair per instrument of the profile.

This module is a leaf: it imports nothing from the project.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "DISCRETE_STATE_KEYS",
    "INSTRUMENT_STATE_KEY",
    "STATE_KEYS",
    "instrument_state_keys",
    "is_discrete_key",
    "is_state_key",
]

#: Every key the simulation produces, in the column order of its blocks.
STATE_KEYS: Final[tuple[str, ...]] = (
    "time.mission_elapsed_s",
    "sun.elevation_deg", "sun.azimuth_deg", "sun.local_time_h",
    "earth.elevation_deg",
    "power.solar_w", "power.load_w", "power.heater_w", "power.rps_electrical_w", "power.net_w",
    "power.battery_soc", "power.battery_energy_wh", "power.battery_voltage_v",
    "power.battery_current_a", "power.bus_voltage_v", "power.shed_w", "power.dumped_w",
    "power.battery_w", "power.battery_capacity_wh",
    "thermal.surface_c", "thermal.avionics_c", "thermal.battery_c", "thermal.propulsion_c",
    "thermal.radiator_c", "thermal.heater_on",
    "gnc.altitude_m", "gnc.altitude_estimate_m", "gnc.vertical_velocity_mps",
    "gnc.horizontal_velocity_mps", "gnc.lrf_range_m", "gnc.lrf_valid", "gnc.lrf_rejected",
    "gnc.terrain_height_m", "gnc.roll_deg", "gnc.pitch_deg", "gnc.yaw_deg",
    "gnc.propellant_kg", "gnc.thrust_n", "gnc.phase", "gnc.downrange_m",
    "comms.link_up", "comms.elevation_deg", "comms.relay_visible", "comms.tx_power_w",
    "relays.deployed",
    "payload.data_volume_bytes", "payload.data_rate_bps", "payload.drill_depth_m",
    "rover.deployed", "rover.distance_m", "rover.battery_soc",
    "mode.lander", "fault.count",
    "sensor.lrf_ok", "sensor.imu_ok", "sensor.thermal_ok",
    "cmd.accepted", "cmd.rejected", "cmd.last_opcode",
)

#: Keys that hold a value until the next sample (flags, counters, enumerations);
#: all others are sampled by linear interpolation.
DISCRETE_STATE_KEYS: Final[frozenset[str]] = frozenset({
    "thermal.heater_on", "gnc.lrf_valid", "gnc.lrf_rejected", "gnc.phase",
    "comms.link_up", "comms.relay_visible", "relays.deployed", "rover.deployed",
    "mode.lander", "fault.count", "sensor.lrf_ok", "sensor.imu_ok", "sensor.thermal_ok",
    "cmd.accepted", "cmd.rejected", "cmd.last_opcode",
})

#: ``payload.<instrument_id>.on`` / ``payload.<instrument_id>.data_rate_bps``.
INSTRUMENT_STATE_KEY: Final[re.Pattern[str]] = re.compile(
    r"payload\.([a-z][a-z0-9_]*)\.(on|data_rate_bps)"
)

_KNOWN: Final[frozenset[str]] = frozenset(STATE_KEYS)


def instrument_state_keys(instrument_id: str) -> tuple[str, str]:
    """The two state keys of one instrument: on flag and data rate."""
    return (f"payload.{instrument_id}.on", f"payload.{instrument_id}.data_rate_bps")


def is_state_key(key: str, instrument_ids: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether ``key`` is produced by the sim for a lander with these instruments."""
    if key in _KNOWN:
        return True
    match = INSTRUMENT_STATE_KEY.fullmatch(key)
    return match is not None and match.group(1) in instrument_ids


def is_discrete_key(key: str) -> bool:
    """Whether a key is sampled with previous-value hold (else linearly)."""
    return key in DISCRETE_STATE_KEYS or key.endswith(".on")

"""Lumped thermal nodes of the lander.

The avionics deck is the main node: electrical loads, heaters and (US variant)
RPS waste heat go in; it leaks through the MLI-covered structure to the
environment and rejects heat through a louvered radiator that only opens when
warm (so at night the leak is the MLI one alone). The battery and propulsion
nodes hang off the deck with small conductances. Environment sink temperatures
mix the regolith and deep space by view factor (T^4-weighted).
"""

from __future__ import annotations

SPACE_K = 3.0
KELVIN = 273.15
CRUISE_SINK_C = -60.0  # assumed effective sink in lunar orbit, sunlit attitude

# Secondary nodes (assumed): battery pack and propellant tanks/lines.
BATTERY_COUPLING_W_PER_K = 2.0
BATTERY_LEAK_FRACTION = 0.2  # of the deck's MLI leak
PROPULSION_CAPACITY_J_PER_K = 5.0e4
PROPULSION_COUPLING_W_PER_K = 0.5
PROPULSION_LEAK_FRACTION = 0.25
BATTERY_SPECIFIC_ENERGY_WH_PER_KG = 150.0
BATTERY_SPECIFIC_HEAT_J_PER_KG_K = 1000.0
# Loop heat pipe to the radiator: the radiator temperature sits between the deck
# and its sink in proportion to these conductances.
RADIATOR_PLATE_W_PER_K = 4.0


def sink_c(surface_c: float, ground_view_factor: float) -> float:
    """Effective radiative sink (°C) for a surface seeing ``ground_view_factor``
    of regolith and the rest deep space."""
    surface_k = surface_c + KELVIN
    t4 = ground_view_factor * surface_k**4 + (1.0 - ground_view_factor) * SPACE_K**4
    return float(t4**0.25) - KELVIN


def louver_fraction(deck_c: float, open_c: float, full_c: float) -> float:
    """Radiator louver opening 0..1 (thermostatic bimetal, linear between)."""
    if deck_c <= open_c:
        return 0.0
    if deck_c >= full_c:
        return 1.0
    return (deck_c - open_c) / (full_c - open_c)


def battery_capacity_j_per_k(capacity_wh: float) -> float:
    """Heat capacity of the battery pack from its mass at 150 Wh/kg."""
    return capacity_wh / BATTERY_SPECIFIC_ENERGY_WH_PER_KG * BATTERY_SPECIFIC_HEAT_J_PER_KG_K


def thermostat(heater_on: bool, deck_c: float, setpoint_c: float, hysteresis_k: float) -> bool:
    """Heater thermostat with hysteresis: on below the setpoint, off above
    setpoint + hysteresis, unchanged in between."""
    if deck_c < setpoint_c:
        return True
    if deck_c > setpoint_c + hysteresis_k:
        return False
    return heater_on

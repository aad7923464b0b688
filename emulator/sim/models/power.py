"""Solar arrays, the battery and the bus.

The battery integrates the power balance with separate charge and discharge
efficiencies. When it is full the shunt dumps the surplus; when it is empty the
loads that generation cannot carry are shed. Every watt is accounted for:
``battery_w = net + shed - dumped`` and the stored energy changes by
``battery_w * eta_charge`` (charging) or ``battery_w / eta_discharge``
(discharging) per second.
"""

from __future__ import annotations

import math
from typing import NamedTuple

DEG = math.pi / 180.0


def solar_array_w(
    peak_w: float, sun_elevation_deg: float, tilt_deg: float, degradation: float,
    *, sun_tracking: bool = False,
) -> float:
    """Array output (W): azimuth-tracking panels tilted ``tilt_deg`` from the
    horizontal (90 = vertical) have their normal at elevation 90 - tilt in the
    Sun's azimuth, so the incidence is cos i = cos(90 - tilt - el) =
    sin(elevation + tilt); a two-axis sun-tracking array sees cos i = 1. No
    output with the Sun below the horizon (terrain and lander shadowing ignored)."""
    if sun_elevation_deg <= 0.0:
        return 0.0
    cos_incidence = 1.0 if sun_tracking else math.sin((sun_elevation_deg + tilt_deg) * DEG)
    return max(0.0, peak_w * cos_incidence * (1.0 - degradation))


class BatteryStep(NamedTuple):
    energy_wh: float  # stored energy after the step
    battery_w: float  # power into the battery terminals (+ charging)
    shed_w: float  # load that could not be supplied
    dumped_w: float  # surplus the shunt dumped


def battery_step(
    energy_wh: float,
    capacity_wh: float,
    net_w: float,
    dt_s: float,
    eta_charge: float,
    eta_discharge: float,
    *,
    charge_allowed: bool = True,
) -> BatteryStep:
    """One step of the battery with the power balance ``net_w`` (= generation -
    demanded load) held constant over ``dt_s``. ``energy_wh`` and
    ``capacity_wh`` count from the protection floor (the usable part)."""
    hours = dt_s / 3600.0
    if net_w >= 0.0 and not charge_allowed:
        return BatteryStep(energy_wh, 0.0, 0.0, net_w)
    if net_w >= 0.0:
        room_w = max(0.0, capacity_wh - energy_wh) / (eta_charge * hours)
        charge = min(net_w, room_w)
        return BatteryStep(
            min(capacity_wh, energy_wh + charge * eta_charge * hours), charge, 0.0, net_w - charge
        )
    deficit = -net_w
    available_w = max(0.0, energy_wh) * eta_discharge / hours
    discharge = min(deficit, available_w)
    return BatteryStep(
        max(0.0, energy_wh - discharge / eta_discharge * hours), -discharge, deficit - discharge, 0.0
    )


def battery_open_circuit_v(nominal_v: float, soc: float) -> float:
    """Li-ion open-circuit voltage: about 0.9..1.05 x nominal from empty to full
    (7 cells of 3.6 V nominal: 3.2..4.2 V per cell, linearised)."""
    return nominal_v * (0.89 + 0.16 * soc)


def soc_at_open_circuit_v(nominal_v: float, voltage_v: float) -> float:
    """The state of charge whose open-circuit voltage is ``voltage_v`` (clipped to 0..1)."""
    return min(1.0, max(0.0, (voltage_v / nominal_v - 0.89) / 0.16))


def battery_terminal_v(nominal_v: float, soc: float, battery_w: float, capacity_wh: float) -> float:
    """Terminal voltage with an internal resistance that scales inversely with
    capacity (assumed 1 mOhm.kWh per 28 V string)."""
    ocv = battery_open_circuit_v(nominal_v, soc)
    resistance = 0.05 * (nominal_v / 28.0) ** 2 / max(capacity_wh / 1000.0, 0.1)
    current = battery_w / ocv
    return ocv + current * resistance

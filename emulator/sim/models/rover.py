"""A small rover (HAKUTO-R carried a 4-wheel micro-rover, seed 003): deployed
some hours after touchdown, drives in daylight while its battery allows, and,
not being designed for the night, runs its battery down after sunset."""

from __future__ import annotations

# Powers (assumed, micro/small rover class): the state of charge moves by
# power / battery capacity, so a bigger battery drains and fills more slowly.
CHARGE_W = 5.0  # solar charging in daylight
DRIVE_W = 8.0  # driving consumption
NIGHT_W = 3.0  # keep-alive at night, no heaters
DRIVE_DUTY = 0.5  # drives half the time (assumed)


def rover_step(
    soc: float, distance_m: float, daylight: bool, speed_mps: float, dt_s: float,
    battery_wh: float = 100.0,
) -> tuple[float, float]:
    """Advance (state of charge, distance driven) by one step."""
    hours = dt_s / 3600.0
    if daylight:
        driving = soc > 0.2
        soc += (CHARGE_W - (DRIVE_W * DRIVE_DUTY if driving else 0.0)) * hours / battery_wh
        if driving:
            distance_m += speed_mps * DRIVE_DUTY * dt_s
    else:
        soc -= NIGHT_W * hours / battery_wh
    return min(1.0, max(0.0, soc)), distance_m

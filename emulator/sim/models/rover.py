"""A small rover (HAKUTO-R carried a 4-wheel micro-rover, seed 003): deployed
some hours after touchdown, drives in daylight while its battery allows, and,
not being designed for the night, runs its battery down after sunset."""

from __future__ import annotations

CHARGE_PER_H = 0.05  # solar charging in daylight (assumed)
DRIVE_PER_H = 0.08  # driving consumption (assumed)
NIGHT_PER_H = 0.03  # keep-alive at night, no heaters (assumed)
DRIVE_DUTY = 0.5  # drives half the time (assumed)


def rover_step(
    soc: float, distance_m: float, daylight: bool, speed_mps: float, dt_s: float
) -> tuple[float, float]:
    """Advance (state of charge, distance driven) by one step."""
    hours = dt_s / 3600.0
    if daylight:
        driving = soc > 0.2
        soc += (CHARGE_PER_H - (DRIVE_PER_H * DRIVE_DUTY if driving else 0.0)) * hours
        if driving:
            distance_m += speed_mps * DRIVE_DUTY * dt_s
    else:
        soc -= NIGHT_PER_H * hours
    return min(1.0, max(0.0, soc)), distance_m

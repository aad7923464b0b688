"""Sun and Earth as seen from the lander site, and the regolith temperature.

Lunar local solar time advances 24 h per synodic month. The Sun's declination on
the Moon stays within ±1.54° (the lunar equator's tilt to the ecliptic) and goes
through one cycle per eclipse year (~346.6 d, the node precesses). The Earth hangs
near the sub-Earth point (0°, 0°) and librates by about ±6.7° in latitude and
±7.9° in longitude (optical libration), so a far-side site such as Schrödinger
basin (75.0°S 132.4°E) never sees it.
"""

from __future__ import annotations

import math

SYNODIC_MONTH_S = 29.530589 * 86400.0
ECLIPSE_YEAR_S = 346.62 * 86400.0
ANOMALISTIC_MONTH_S = 27.554550 * 86400.0  # period of the libration in longitude
DRACONIC_MONTH_S = 27.212221 * 86400.0  # period of the libration in latitude
MAX_DECLINATION_DEG = 1.54
LIBRATION_LAT_DEG = 6.68
LIBRATION_LON_DEG = 7.9

SOLAR_CONSTANT_W_M2 = 1361.0
REGOLITH_ALBEDO = 0.12  # mean lunar bond albedo
REGOLITH_EMISSIVITY = 0.95
STEFAN_BOLTZMANN = 5.670374419e-8
NIGHT_FLOOR_K = 100.0  # equatorial pre-dawn regolith is ~95-100 K (Diviner)
# Regolith cools with a time constant of hours after sunset (low thermal inertia)
# and reaches ~-170 °C; warming in sunlight is nearly instant.
REGOLITH_COOLING_TAU_S = 8.0 * 3600.0

DEG = math.pi / 180.0


def local_time_h(t_s: float, start_local_time_h: float) -> float:
    """Lunar local solar time (0..24 h) at sim time ``t_s``."""
    return (start_local_time_h + 24.0 * t_s / SYNODIC_MONTH_S) % 24.0


def solar_declination_deg(t_s: float, start_declination_deg: float) -> float:
    """Sun declination in the lunar equatorial frame, within ±1.54°."""
    phase0 = math.asin(max(-1.0, min(1.0, start_declination_deg / MAX_DECLINATION_DEG)))
    return MAX_DECLINATION_DEG * math.sin(phase0 + 2.0 * math.pi * t_s / ECLIPSE_YEAR_S)


def sun_elevation_azimuth(
    latitude_deg: float, local_time: float, declination_deg: float
) -> tuple[float, float]:
    """Sun elevation and azimuth (degrees, azimuth from north through east)."""
    hour_angle = (local_time - 12.0) * 15.0 * DEG
    lat = latitude_deg * DEG
    dec = declination_deg * DEG
    sin_el = math.sin(lat) * math.sin(dec) + math.cos(lat) * math.cos(dec) * math.cos(hour_angle)
    el = math.asin(max(-1.0, min(1.0, sin_el)))
    az = math.atan2(
        -math.sin(hour_angle) * math.cos(dec),
        math.cos(lat) * math.sin(dec) - math.sin(lat) * math.cos(dec) * math.cos(hour_angle),
    )
    return el / DEG, (az / DEG) % 360.0


def earth_elevation_deg(t_s: float, latitude_deg: float, longitude_deg: float) -> float:
    """Elevation of the Earth's centre above the site horizon (degrees).

    Uses the angular distance from the site to the librating sub-Earth point;
    the ~1° parallax of the Earth at lunar distance is ignored.
    """
    sub_lat = LIBRATION_LAT_DEG * DEG * math.sin(2.0 * math.pi * t_s / DRACONIC_MONTH_S)
    sub_lon = LIBRATION_LON_DEG * DEG * math.sin(2.0 * math.pi * t_s / ANOMALISTIC_MONTH_S)
    lat = latitude_deg * DEG
    cos_c = math.sin(lat) * math.sin(sub_lat) + math.cos(lat) * math.cos(sub_lat) * math.cos(
        longitude_deg * DEG - sub_lon
    )
    return 90.0 - math.acos(max(-1.0, min(1.0, cos_c))) / DEG


def regolith_equilibrium_k(sun_elevation_deg: float) -> float:
    """Radiative-balance regolith temperature (K) under the Sun at this elevation:
    absorbed (1 - A) S sin(el) = emitted eps sigma T^4; the night floor below."""
    if sun_elevation_deg <= 0.0:
        return NIGHT_FLOOR_K
    absorbed = SOLAR_CONSTANT_W_M2 * (1.0 - REGOLITH_ALBEDO) * math.sin(sun_elevation_deg * DEG)
    return max(NIGHT_FLOOR_K, float((absorbed / (REGOLITH_EMISSIVITY * STEFAN_BOLTZMANN)) ** 0.25))


def regolith_step_k(surface_k: float, sun_elevation_deg: float, dt_s: float) -> float:
    """Advance the regolith surface temperature by one step (K)."""
    target = regolith_equilibrium_k(sun_elevation_deg)
    if target >= surface_k:
        return target
    return target + (surface_k - target) * math.exp(-dt_s / REGOLITH_COOLING_TAU_S)

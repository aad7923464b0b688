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
from datetime import UTC, datetime, timedelta

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
# Polar nights are colder: LRO Diviner maps ~90 K at the poles outside
# permanently shadowed regions (those reach 40-70 K). The floor falls from the
# equatorial 100 K to 90 K poleward of 80 degrees.
POLAR_NIGHT_FLOOR_K = 90.0
POLAR_LATITUDE_DEG = 80.0
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


def night_floor_k(latitude_deg: float) -> float:
    """Pre-dawn regolith temperature (K) at this latitude: 100 K at the equator,
    falling linearly (in latitude) to 90 K at 80 degrees and beyond."""
    frac = min(1.0, abs(latitude_deg) / POLAR_LATITUDE_DEG)
    return NIGHT_FLOOR_K + (POLAR_NIGHT_FLOOR_K - NIGHT_FLOOR_K) * frac


def regolith_equilibrium_k(sun_elevation_deg: float, floor_k: float = NIGHT_FLOOR_K) -> float:
    """Radiative-balance regolith temperature (K) under the Sun at this elevation:
    absorbed (1 - A) S sin(el) = emitted eps sigma T^4; the night floor below."""
    if sun_elevation_deg <= 0.0:
        return floor_k
    absorbed = SOLAR_CONSTANT_W_M2 * (1.0 - REGOLITH_ALBEDO) * math.sin(sun_elevation_deg * DEG)
    return max(floor_k, float((absorbed / (REGOLITH_EMISSIVITY * STEFAN_BOLTZMANN)) ** 0.25))


def regolith_step_k(surface_k: float, sun_elevation_deg: float, dt_s: float,
                    floor_k: float = NIGHT_FLOOR_K) -> float:
    """Advance the regolith surface temperature by one step (K)."""
    target = regolith_equilibrium_k(sun_elevation_deg, floor_k)
    if target >= surface_k:
        return target
    return target + (surface_k - target) * math.exp(-dt_s / REGOLITH_COOLING_TAU_S)


# ---------------------------------------------------------------- the date
# Low-precision lunar theory (Meeus, Astronomical Algorithms, ch. 47 and 53,
# mean elements only): enough to put day, night, the Sun's declination and the
# libration on the right dates. Time is in Julian centuries from J2000; the
# ~69 s TT-UTC difference is far below this model's precision.
J2000_UTC = datetime(2000, 1, 1, 12, tzinfo=UTC)


def _centuries(utc: datetime) -> float:
    return (utc - J2000_UTC).total_seconds() / (86400.0 * 36525.0)


class LunarCalendar:
    """Sun and Earth geometry of a lunar site as a function of the UTC date.

    ``at(t_s)`` gives the lunar local solar time (h), the Sun's declination in
    the lunar equatorial frame (deg) and the sub-Earth point (lat, lon in deg)
    at ``t_s`` seconds after ``start_utc``.
    """

    def __init__(self, start_utc: datetime, longitude_deg: float,
                 declination_override_deg: float | None = None) -> None:
        self.start_utc = start_utc
        self.longitude_deg = longitude_deg
        self._t0 = _centuries(start_utc)
        self._declination_override = declination_override_deg

    def _angles(self, t_s: float) -> tuple[float, float, float, float, float]:
        tc = self._t0 + t_s / (86400.0 * 36525.0)
        elong = 297.8501921 + 445267.1114034 * tc  # D, Moon's mean elongation
        moon_anom = 134.9633964 + 477198.8675055 * tc  # M', Moon's mean anomaly
        arg_lat = 93.2720950 + 483202.0175233 * tc  # F, argument of latitude
        sun_lon = 280.46646 + 36000.76983 * tc  # Sun's mean longitude
        node = 125.04452 - 1934.136261 * tc  # ascending node of the lunar orbit
        return elong, moon_anom, arg_lat, sun_lon, node

    def at(self, t_s: float) -> tuple[float, float, float, float]:
        """(local solar time h, solar declination deg, sub-Earth lat, sub-Earth lon)."""
        elong, moon_anom, arg_lat, sun_lon, node = self._angles(t_s)
        # New Moon (D = 0): the Sun stands over the far side (longitude 180);
        # full Moon: over the near side. The sub-solar point moves west.
        subsolar = 180.0 - elong
        local = (12.0 + (self.longitude_deg - subsolar) / 15.0) % 24.0
        if self._declination_override is None:
            decl = MAX_DECLINATION_DEG * math.sin((sun_lon - node) * DEG)
        else:
            decl = self._declination_override
        sub_lat = LIBRATION_LAT_DEG * math.sin(arg_lat * DEG)
        sub_lon = -LIBRATION_LON_DEG * math.sin(moon_anom * DEG)
        return local, decl, sub_lat, sub_lon

    def first_local_time_after(self, local_time_h: float) -> float:
        """Seconds from ``start_utc`` to the first instant (>= 0) when the site's
        local solar time is ``local_time_h``."""
        now, *_ = self.at(0.0)
        return ((local_time_h - now) % 24.0) / 24.0 * SYNODIC_MONTH_S

    def shifted(self, seconds: float) -> LunarCalendar:
        """The same site with the start moved by ``seconds``."""
        return LunarCalendar(self.start_utc + timedelta(seconds=seconds), self.longitude_deg,
                             self._declination_override)


def earth_elevation_from_sub_earth_deg(latitude_deg: float, longitude_deg: float,
                                       sub_lat_deg: float, sub_lon_deg: float) -> float:
    """Elevation of the Earth's centre above the site horizon (degrees), from the
    angular distance to the sub-Earth point (parallax of ~1 deg ignored)."""
    lat, sub_lat = latitude_deg * DEG, sub_lat_deg * DEG
    cos_c = math.sin(lat) * math.sin(sub_lat) + math.cos(lat) * math.cos(sub_lat) * math.cos(
        (longitude_deg - sub_lon_deg) * DEG
    )
    return 90.0 - math.acos(max(-1.0, min(1.0, cos_c))) / DEG

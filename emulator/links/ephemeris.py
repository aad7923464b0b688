"""Sun, Earth and Moon from skyfield with the data shipped by skyfield-data.

DE421 and the IERS ``finals2000A.all`` table come inside the skyfield-data
wheel, so nothing is downloaded at run time. The Earth-orientation file in the
installed skyfield-data may be past its "expiration" date: skyfield then
extrapolates UT1-UTC, which moves a ground station by well under a kilometre
(0.46 km per second of UT1) -- invisible to a 10 degree elevation mask -- so the
expiry warning is silenced here and the data path is used as shipped.

:class:`EphemerisGrid` evaluates everything once on a time grid, vectorised.
The Earth's rotation (ITRS -> GCRS) is the expensive part in skyfield
(precession-nutation per instant), so it is computed on an hourly grid and the
sidereal angle is interpolated with the Earth's rotation rate in between:
nutation changes by milliarcseconds per hour.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from .moon_frame import icrf_to_moon_fixed

__all__ = ["EphemerisGrid", "skyfield_loader", "station_geometry"]

FloatArray = npt.NDArray[np.float64]

SECONDS_PER_DAY = 86400.0
_COARSE_STEP_S = 3600.0


@lru_cache(maxsize=1)
def skyfield_loader() -> tuple[Any, Any]:
    """``(timescale, de421)`` from the files inside skyfield-data (no network)."""
    import skyfield_data
    from skyfield.api import Loader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # expired EOP file: see the module docstring
        path = skyfield_data.get_skyfield_data_path()
    load = Loader(path, verbose=False)
    timescale = load.timescale(builtin=False)
    ephemeris = load("de421.bsp")
    return timescale, ephemeris


def _utc(epoch: dt.datetime) -> dt.datetime:
    if epoch.tzinfo is None:
        return epoch.replace(tzinfo=dt.UTC)
    return epoch.astimezone(dt.UTC)


@dataclass(frozen=True)
class EphemerisGrid:
    """Geometry on a time grid ``epoch + seconds`` (all km, ICRF axes).

    - ``earth_from_moon``, ``sun_from_moon``: (N, 3) geometric vectors from the
      Moon's centre.
    - ``moon_fixed``: (N, 3, 3) ICRF -> Moon body-fixed rotations.
    - ``itrs_to_gcrs``: (N, 3, 3) rotations for ground stations.
    """

    epoch: dt.datetime
    seconds: FloatArray
    earth_from_moon: FloatArray
    sun_from_moon: FloatArray
    moon_fixed: FloatArray
    itrs_to_gcrs: FloatArray
    tdb_days: FloatArray

    @classmethod
    def build(cls, epoch: dt.datetime, seconds: npt.ArrayLike) -> EphemerisGrid:
        """Evaluate skyfield once for every instant of ``seconds`` after ``epoch``."""
        ts, eph = skyfield_loader()
        epoch = _utc(epoch)
        sec = np.asarray(seconds, dtype=np.float64)
        t = ts.utc(epoch.year, epoch.month, epoch.day, epoch.hour, epoch.minute,
                   epoch.second + epoch.microsecond * 1e-6 + sec)
        earth = (eph["earth"] - eph["moon"]).at(t).position.km.T
        sun = (eph["sun"] - eph["moon"]).at(t).position.km.T
        tdb_days = np.asarray(t.tdb - 2451545.0, dtype=np.float64)
        moon_fixed = icrf_to_moon_fixed(tdb_days)
        itrs = _itrs_to_gcrs(ts, t, sec)
        return cls(epoch, sec, np.ascontiguousarray(earth), np.ascontiguousarray(sun),
                   moon_fixed, itrs, tdb_days)


def _itrs_to_gcrs(ts: Any, t: Any, seconds: FloatArray) -> FloatArray:
    """ITRS -> GCRS rotations: skyfield on an hourly grid, rotation rate between."""
    from skyfield.framelib import itrs

    if seconds.size <= 64:
        r = itrs.rotation_at(t)  # (3, 3, N), GCRS -> ITRS
        return np.ascontiguousarray(np.moveaxis(r, -1, 0).transpose(0, 2, 1))
    lo, hi = float(seconds.min()), float(seconds.max())
    coarse = np.arange(lo, hi + _COARSE_STEP_S, _COARSE_STEP_S)
    tc = t[0] + (coarse - seconds[0]) / SECONDS_PER_DAY
    gast_c = np.unwrap(np.asarray(tc.gast) * (2 * np.pi / 24.0))
    m_c = np.moveaxis(np.asarray(tc.M), -1, 0)  # (C, 3, 3) precession-nutation
    gast = np.interp(seconds, coarse, gast_c)
    m = np.empty((seconds.size, 3, 3))
    for i in range(3):
        for j in range(3):
            m[:, i, j] = np.interp(seconds, coarse, m_c[:, i, j])
    c, s = np.cos(gast), np.sin(gast)
    # GCRS -> ITRS = Rz(-gast) @ M (skyfield's TIRS; polar motion, ~10 m, left out)
    rz = np.zeros((seconds.size, 3, 3))
    rz[:, 0, 0] = c
    rz[:, 0, 1] = s
    rz[:, 1, 0] = -s
    rz[:, 1, 1] = c
    rz[:, 2, 2] = 1.0
    return np.ascontiguousarray((rz @ m).transpose(0, 2, 1))


def station_geometry(grid: EphemerisGrid, latitude_deg: float, longitude_deg: float,
                     altitude_m: float) -> tuple[FloatArray, FloatArray]:
    """A WGS84 station's GCRS position (N, 3) km and local up unit vector (N, 3)."""
    from skyfield.api import wgs84

    place = wgs84.latlon(latitude_deg, longitude_deg, elevation_m=altitude_m)
    xyz = np.asarray(place.itrs_xyz.km, dtype=np.float64)
    lat, lon = np.deg2rad(latitude_deg), np.deg2rad(longitude_deg)
    # Geodetic normal, the direction a dish's elevation is measured from.
    up = np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    return grid.itrs_to_gcrs @ xyz, grid.itrs_to_gcrs @ up

"""Visibility geometry on a time grid: lander site, relays, ground stations.

All vectors are Moon-centred km. Lander-side angles are measured in the Moon's
body-fixed frame (:mod:`.moon_frame`), station-side angles in GCRS from each
station's geodetic vertical. Positions are geometric at one instant: the 1.3 s
of light time moves the Moon by ~1.3 km, a few thousandths of a degree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .moon_frame import MOON_RADIUS_KM

__all__ = ["HorizonMask", "LunarSite", "elevation_deg", "occulted_by_moon"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class HorizonMask:
    """Terrain horizon seen from a site: elevation (deg) by azimuth (deg from
    north, towards east), linearly interpolated around the circle.
    ``provenance`` says where the profile came from (a DEM, an assumption)."""

    azimuth_deg: tuple[float, ...]
    elevation_deg: tuple[float, ...]
    provenance: str

    def __post_init__(self) -> None:
        if len(self.azimuth_deg) != len(self.elevation_deg) or not self.azimuth_deg:
            raise ValueError("horizon mask needs as many elevations as azimuths (at least one)")

    def at(self, azimuth_deg: npt.ArrayLike) -> FloatArray:
        az = np.asarray(self.azimuth_deg, dtype=np.float64)
        el = np.asarray(self.elevation_deg, dtype=np.float64)
        order = np.argsort(az)
        return np.interp(np.mod(azimuth_deg, 360.0), az[order], el[order], period=360.0)


@dataclass(frozen=True)
class LunarSite:
    """A point on the Moon (selenographic, east longitude) with its horizon."""

    latitude_deg: float
    longitude_deg: float
    altitude_km: float = 0.0
    horizon: HorizonMask | None = field(default=None)

    @property
    def position_fixed(self) -> FloatArray:
        lat, lon = np.deg2rad(self.latitude_deg), np.deg2rad(self.longitude_deg)
        r = MOON_RADIUS_KM + self.altitude_km
        return r * np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])

    def _enu(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        lat, lon = np.deg2rad(self.latitude_deg), np.deg2rad(self.longitude_deg)
        east = np.array([-np.sin(lon), np.cos(lon), 0.0])
        north = np.array([-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)])
        up = np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
        return east, north, up

    def look(self, target_fixed: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Elevation, azimuth (deg) and range (km) of Moon-fixed targets (..., 3)."""
        d = target_fixed - self.position_fixed
        rng = np.linalg.norm(d, axis=-1)
        east, north, up = self._enu()
        el = np.rad2deg(np.arcsin(np.clip((d @ up) / rng, -1.0, 1.0)))
        az = np.mod(np.rad2deg(np.arctan2(d @ east, d @ north)), 360.0)
        return el, az, rng

    def clearance_deg(self, target_fixed: FloatArray, mask_deg: float) -> tuple[FloatArray, FloatArray]:
        """(elevation above max(mask, terrain horizon), range km)."""
        el, az, rng = self.look(target_fixed)
        floor = np.full_like(el, mask_deg)
        if self.horizon is not None:
            floor = np.maximum(floor, self.horizon.at(az))
        return el - floor, rng


def to_moon_fixed(moon_fixed: FloatArray, vectors: FloatArray) -> FloatArray:
    """Rotate (..., N, 3) ICRF vectors with (N, 3, 3) matrices."""
    return np.asarray(np.einsum("nij,...nj->...ni", moon_fixed, vectors), dtype=np.float64)


def elevation_deg(observer: FloatArray, up: FloatArray, target: FloatArray) -> FloatArray:
    """Elevation of ``target`` from ``observer`` with local vertical ``up`` (..., 3)."""
    d = target - observer
    rng = np.linalg.norm(d, axis=-1)
    return np.asarray(np.rad2deg(np.arcsin(np.clip(np.einsum("...i,...i->...", d, up) / rng, -1.0, 1.0))),
                      dtype=np.float64)


def occulted_by_moon(a: FloatArray, b: FloatArray, radius_km: float = MOON_RADIUS_KM) -> BoolArray:
    """True where the segment a-b (Moon-centred, (..., 3)) passes through the Moon."""
    ab = b - a
    t = np.clip(-np.einsum("...i,...i->...", a, ab) / np.einsum("...i,...i->...", ab, ab), 0.0, 1.0)
    closest = a + t[..., None] * ab
    return np.asarray(np.linalg.norm(closest, axis=-1) < radius_km)

"""The link schedule: which path is up, light time and link quality, per step.

Built once per run on a uniform grid (default 30 s) with vectorised skyfield
calls and one relay propagation; the engine then asks :meth:`LinkSchedule.state`
for each block, an O(1) index into precomputed arrays.

Paths, as in CCSDS relay operations:

- ``direct``: lander -> ground station. Up when the station sees the Moon at
  or above its elevation mask (10 deg) and the site sees the station above its
  own horizon (0 deg plus the terrain mask).
- a relay: lander -> relay (elevation mask) and relay -> station (station mask,
  Moon not in the way). A relay the lander sees but no station sees is still a
  path: the relay stores and forwards (``relay_store``).

The band's ``paths`` list is the order of preference.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .budget import (
    BIT_LOCK_LOSS_MARGIN_DB,
    RELAY_RADIOS,
    SPEED_OF_LIGHT_KM_S,
    Coding,
    atmospheric_loss_db,
    channel_ber,
    ebn0_db,
    required_ebn0_db,
    station_g_over_t_db,
)
from .ephemeris import EphemerisGrid, station_geometry
from .geometry import LunarSite, elevation_deg, occulted_by_moon, to_moon_fixed
from .orbits import KeplerElements, propagate_relays, state_from_elements

if TYPE_CHECKING:
    from lunar_hil.profiles.schema import Profile

__all__ = [
    "DIRECT", "DTE_SITE_MASK_DEG", "LANDER_RELAY_MASK_DEG", "STATION_MASK_DEG", "BandSpec",
    "LinkSchedule", "LinkState", "RelaySpec", "StationSpec", "Window", "windows_of",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

DIRECT = "direct"
STATION_MASK_DEG = 10.0  # ground antenna elevation mask
LANDER_RELAY_MASK_DEG = 5.0  # near-horizon multipath on the lander's relay antenna (assumed)
DTE_SITE_MASK_DEG = 0.0  # the Earth-pointing antenna needs a clear line; terrain adds its own
DEFAULT_STEP_S = 30.0
_DEFAULT_TX_POWER_W = 5.0
_DEFAULT_TX_GAIN_DBI = 3.0
_DEFAULT_DISH_M = 34.0


@dataclass(frozen=True)
class RelaySpec:
    name: str
    elements: KeplerElements
    bands: tuple[str, ...]


@dataclass(frozen=True)
class StationSpec:
    name: str
    network: str
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    dish_diameter_m: float
    bands: tuple[str, ...]


@dataclass(frozen=True)
class BandSpec:
    name: str
    bit_rate_bps: float
    carrier_hz: float
    tx_power_w: float
    antenna_gain_dbi: float
    coding: Coding
    paths: tuple[str, ...]

    @property
    def eirp_dbw(self) -> float:
        return float(10 * np.log10(self.tx_power_w) + self.antenna_gain_dbi)


@dataclass(frozen=True)
class LinkState:
    """The link at one instant for one band."""

    path: str | None  # "direct", a relay name, or None (no path: outage)
    station: str | None  # the ground station receiving (None while the relay stores)
    light_time_s: float  # one way, lander -> ground (all hops); 0 without a path
    ebn0_db: float  # of the weakest hop; -inf without a path
    margin_db: float
    ber: float  # channel bit/symbol error rate on the transmitted stream
    no_rf: bool  # CCSDS 232.0 4.2.1.8: no RF available
    no_bit_lock: bool  # CCSDS 232.0 4.2.1.9: no bit lock
    relay_store: bool  # a relay carries the data but sees no station: it stores
    next_change_s: float  # sim seconds until the path changes (inf if never on the grid)

    @property
    def delivering(self) -> bool:
        """Frames reach a ground station now (not stored anywhere on the way)."""
        return self.path is not None and not self.relay_store and not self.no_bit_lock


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def windows_of(up: BoolArray, seconds: FloatArray, step_s: float) -> list[Window]:
    """Runs of True as [start, end) windows in sim seconds."""
    edges = np.diff(np.concatenate([[0], up.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [Window(float(seconds[s]), float(seconds[e - 1] + step_s)) for s, e in zip(starts, ends, strict=True)]


@dataclass
class BandTimeline:
    """Per-step arrays for one band (see :class:`LinkState`)."""

    path_index: IntArray  # -1 none, 0 direct, 1 + relay index
    station_index: IntArray  # -1 none
    light_time_s: FloatArray
    ebn0_db: FloatArray
    margin_db: FloatArray
    ber: FloatArray
    relay_store: BoolArray
    no_bit_lock: BoolArray

    def delivering(self) -> BoolArray:
        """(N,): frames reach a station at each step (:attr:`LinkState.delivering`)."""
        return np.asarray((self.path_index >= 0) & ~self.relay_store & ~self.no_bit_lock,
                          dtype=np.bool_)


@dataclass
class LinkSchedule:
    """Geometry on a grid plus per-band budgets (lazily, cached per band)."""

    epoch: dt.datetime
    step_s: float
    seconds: FloatArray
    site: LunarSite
    relays: tuple[RelaySpec, ...]
    stations: tuple[StationSpec, ...]
    bands: dict[str, BandSpec]
    earth_clearance_deg: FloatArray  # (N,) Earth centre above the site's horizon
    relay_clearance_deg: FloatArray  # (R, N) relay above lander mask/terrain
    relay_range_km: FloatArray  # (R, N)
    relay_station_el_deg: FloatArray  # (R, S, N), -90 where the Moon is in the way
    relay_station_range_km: FloatArray  # (R, S, N)
    dte_station_el_deg: FloatArray  # (S, N) station's elevation of the site
    dte_site_clearance_deg: FloatArray  # (S, N) station above the site's horizon
    dte_range_km: FloatArray  # (S, N)
    earth_range_km: FloatArray  # (N,) site to the Earth's centre
    _timelines: dict[str, BandTimeline] = field(default_factory=dict, repr=False)

    # ---- construction -------------------------------------------------
    @classmethod
    def build(cls, site: LunarSite, relays: Sequence[RelaySpec], stations: Sequence[StationSpec],
              bands: Sequence[BandSpec], epoch: dt.datetime, duration_s: float,
              step_s: float = DEFAULT_STEP_S) -> LinkSchedule:
        n = max(int(np.ceil(duration_s / step_s)), 1) + 1
        seconds = np.arange(n, dtype=np.float64) * step_s
        grid = EphemerisGrid.build(epoch, seconds)
        earth_fixed = to_moon_fixed(grid.moon_fixed, grid.earth_from_moon)
        earth_clear, earth_rng = site.clearance_deg(earth_fixed, 0.0)

        relay_pos = np.zeros((0, n, 3))
        if relays:
            m0 = grid.moon_fixed[0]
            y0 = np.stack([state_from_elements(r.elements) for r in relays])
            y0 = np.concatenate([y0[:, :3] @ m0, y0[:, 3:] @ m0], axis=1)  # fixed -> ICRF
            relay_pos = propagate_relays(y0, seconds, pole=m0[2], earth_from_moon=grid.earth_from_moon,
                                         sun_from_moon=grid.sun_from_moon)
        relay_fixed = to_moon_fixed(grid.moon_fixed, relay_pos)
        relay_clear, relay_rng = site.clearance_deg(relay_fixed, LANDER_RELAY_MASK_DEG)

        site_icrf = np.einsum("nji,j->ni", grid.moon_fixed, site.position_fixed)  # fixed -> ICRF
        s_count = len(stations)
        rs_el = np.full((len(relays), s_count, n), -90.0)
        rs_rng = np.zeros((len(relays), s_count, n))
        dte_el = np.full((s_count, n), -90.0)
        dte_clear = np.full((s_count, n), -90.0)
        dte_rng = np.zeros((s_count, n))
        for k, st in enumerate(stations):
            gcrs, up = station_geometry(grid, st.latitude_deg, st.longitude_deg, st.altitude_m)
            st_pos = grid.earth_from_moon + gcrs  # Moon-centred ICRF
            dte_el[k] = elevation_deg(st_pos, up, site_icrf)
            dte_rng[k] = np.linalg.norm(st_pos - site_icrf, axis=1)
            dte_clear[k], _ = site.clearance_deg(to_moon_fixed(grid.moon_fixed, st_pos), DTE_SITE_MASK_DEG)
            for r in range(len(relays)):
                el = elevation_deg(st_pos, up, relay_pos[r])
                el[occulted_by_moon(relay_pos[r], st_pos)] = -90.0
                rs_el[r, k] = el
                rs_rng[r, k] = np.linalg.norm(st_pos - relay_pos[r], axis=1)
        return cls(epoch, step_s, seconds, site, tuple(relays), tuple(stations),
                   {b.name: b for b in bands}, earth_clear, relay_clear, relay_rng, rs_el, rs_rng,
                   dte_el, dte_clear, dte_rng, earth_rng)

    @classmethod
    def from_profile(cls, profile: Profile, epoch: dt.datetime, duration_s: float,
                     step_s: float = DEFAULT_STEP_S, site: LunarSite | None = None) -> LinkSchedule:
        """Build from a lander profile (cached per profile content, epoch, span, step)."""
        key = _cache_key(profile, epoch, duration_s, step_s, site)
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        schedule = cls.build(site or site_of(profile), relays_of(profile), stations_of(profile),
                             bands_of(profile), epoch, duration_s, step_s)
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = schedule
        return schedule

    # ---- geometry summaries ------------------------------------------
    @property
    def relay_visible(self) -> BoolArray:
        """(R, N): the lander sees each relay."""
        return np.asarray(self.relay_clearance_deg >= 0.0, dtype=np.bool_)

    def relay_station_visible(self, band: str | None = None) -> BoolArray:
        """(R, S, N): relay -> station line clear and above the station mask."""
        ok = self.relay_station_el_deg >= STATION_MASK_DEG
        if band is not None:
            ok = ok & self._station_band_mask(band)[None, :, None]
        return np.asarray(ok, dtype=np.bool_)

    def dte_visible(self, band: str | None = None) -> BoolArray:
        """(S, N): station <-> lander direct line up."""
        ok = (self.dte_station_el_deg >= STATION_MASK_DEG) & (self.dte_site_clearance_deg >= 0.0)
        if band is not None:
            ok = ok & self._station_band_mask(band)[:, None]
        return np.asarray(ok, dtype=np.bool_)

    @property
    def earth_visible(self) -> BoolArray:
        return np.asarray(self.earth_clearance_deg >= 0.0, dtype=np.bool_)

    @property
    def relay_coverage(self) -> BoolArray:
        """(N,): some relay sees both the lander and a station."""
        if not self.relays:
            return np.zeros(self.seconds.size, dtype=bool)
        return np.asarray(np.any(self.relay_visible & self.relay_station_visible().any(axis=1), axis=0),
                          dtype=np.bool_)

    def _station_band_mask(self, band: str) -> BoolArray:
        return np.array([band in s.bands for s in self.stations], dtype=bool)

    # ---- budgets ------------------------------------------------------
    def timeline(self, band: str) -> BandTimeline:
        """Per-step path choice and budget for ``band`` (computed once)."""
        tl = self._timelines.get(band)
        if tl is None:
            tl = self._timelines[band] = self._compute_timeline(self.bands[band])
        return tl

    def _compute_timeline(self, b: BandSpec) -> BandTimeline:
        n = self.seconds.size
        s_count = len(self.stations)
        required = required_ebn0_db(b.coding)
        station_dish = np.array([s.dish_diameter_m for s in self.stations])
        path_index = np.full(n, -1, dtype=np.int64)
        station_index = np.full(n, -1, dtype=np.int64)
        light = np.zeros(n)
        ebn0 = np.full(n, -np.inf)
        ber = np.full(n, 0.5)
        store = np.zeros(n, dtype=bool)

        def best_down(el: FloatArray, rng: FloatArray, visible: BoolArray, eirp: float,
                      rate: float) -> tuple[FloatArray, IntArray]:
            """Best station's Eb/N0 (S, N) -> (N,) and its index."""
            e = np.full((s_count, n), -np.inf)
            for k in range(s_count):
                vis = visible[k]
                if not vis.any():
                    continue
                gt = station_g_over_t_db(b.name, station_dish[k], b.carrier_hz, el[k, vis])
                e[k, vis] = ebn0_db(eirp, rng[k, vis], b.carrier_hz, gt, rate,
                                    atmospheric_loss_db(b.name, el[k, vis]))
            if s_count == 0:
                return np.full(n, -np.inf), np.full(n, -1, dtype=np.int64)
            idx = np.argmax(e, axis=0)
            return e[idx, np.arange(n)], np.where(np.isfinite(e.max(axis=0)), idx, -1)

        # Undecided steps are filled in order of the band's path preference:
        # first every path that reaches a station now, then a relay that can
        # only store (it sees the lander but no station).
        for path, allow_store in [(p, False) for p in b.paths] + [(p, True) for p in b.paths]:
            free = path_index < 0
            if not free.any():
                break
            if allow_store and path == DIRECT:
                continue
            if path == DIRECT:
                e, idx = best_down(self.dte_station_el_deg, self.dte_range_km,
                                   self.dte_visible(b.name), b.eirp_dbw, b.bit_rate_bps)
                up = free & np.isfinite(e)
                path_index[up] = 0
                station_index[up] = idx[up]
                ebn0[up] = e[up]
                light[up] = self.dte_range_km[idx[up], np.flatnonzero(up)] / SPEED_OF_LIGHT_KM_S
                ber[up] = channel_ber(e[up], b.coding)
                continue
            r = next((i for i, rel in enumerate(self.relays) if rel.name == path), None)
            if r is None or b.name not in self.relays[r].bands:
                continue
            radio = RELAY_RADIOS[b.name]
            see = free & self.relay_visible[r]
            if not see.any():
                continue
            e_up = ebn0_db(b.eirp_dbw, self.relay_range_km[r], b.carrier_hz,
                           radio.g_over_t_db_per_k, b.bit_rate_bps)
            e_dn, idx = best_down(self.relay_station_el_deg[r], self.relay_station_range_km[r],
                                  self.relay_station_visible(b.name)[r], radio.eirp_dbw, b.bit_rate_bps)
            forward = see & np.isfinite(e_dn)
            if not allow_store:
                see = forward
            path_index[see] = 1 + r
            store[see & ~forward] = True
            station_index[forward] = idx[forward]
            # A regenerative relay (decodes, re-encodes): hop BERs add, the
            # weaker hop sets the margin.
            ebn0[see] = np.minimum(e_up[see], np.where(forward[see], e_dn[see], np.inf))
            ber_up = channel_ber(e_up[see], b.coding)
            ber_dn = np.where(forward[see], channel_ber(np.where(forward[see], e_dn[see], 99.0), b.coding), 0.0)
            ber[see] = np.minimum(ber_up + ber_dn, 0.5)
            hop_down = self.relay_station_range_km[r, np.maximum(idx, 0), np.arange(n)]
            light[see] = (self.relay_range_km[r, see] + np.where(forward[see], hop_down[see], 0.0)) \
                / SPEED_OF_LIGHT_KM_S
        margin = ebn0 - required
        no_lock = (path_index < 0) | (margin < BIT_LOCK_LOSS_MARGIN_DB)
        return BandTimeline(path_index, station_index, light, ebn0, margin, ber, store, no_lock)

    # ---- queries ------------------------------------------------------
    def index(self, t_s: float) -> int:
        return int(min(max(t_s // self.step_s, 0), self.seconds.size - 1))

    def path_name(self, path_index: int) -> str | None:
        if path_index < 0:
            return None
        return DIRECT if path_index == 0 else self.relays[path_index - 1].name

    def state(self, band: str, t_s: float) -> LinkState:
        """The link for ``band`` at sim time ``t_s`` (seconds after the epoch)."""
        tl = self.timeline(band)
        i = self.index(t_s)
        p = int(tl.path_index[i])
        later = np.flatnonzero(tl.path_index[i:] != p)
        next_change = float(self.seconds[i + later[0]] - t_s) if later.size else float("inf")
        st = int(tl.station_index[i])
        return LinkState(
            path=self.path_name(p),
            station=self.stations[st].name if st >= 0 else None,
            light_time_s=float(tl.light_time_s[i]),
            ebn0_db=float(tl.ebn0_db[i]),
            margin_db=float(tl.margin_db[i]),
            ber=float(tl.ber[i]),
            no_rf=p < 0,
            no_bit_lock=bool(tl.no_bit_lock[i]),
            relay_store=bool(tl.relay_store[i]),
            next_change_s=max(next_change, 0.0),
        )

    def comms_at(self, band: str, t_s: float) -> tuple[bool, float, bool]:
        """For the sim's comms telemetry at ``t_s``: (frames reach a station now,
        elevation in deg of the path's far end above the lander's horizon — the
        Earth's centre direct, the relay through one — or -90 with no path, the
        lander sees some relay)."""
        tl = self.timeline(band)
        i = self.index(t_s)
        p = int(tl.path_index[i])
        delivering = p >= 0 and not bool(tl.relay_store[i]) and not bool(tl.no_bit_lock[i])
        if p == 0:
            elevation = float(self.earth_clearance_deg[i])
        elif p > 0:
            elevation = float(self.relay_clearance_deg[p - 1, i]) + LANDER_RELAY_MASK_DEG
        else:
            elevation = -90.0
        sees_relay = bool(self.relay_clearance_deg.shape[0]) and bool(
            np.any(self.relay_clearance_deg[:, i] >= 0.0))
        return delivering, elevation, sees_relay

    def windows(self, up: BoolArray) -> list[Window]:
        return windows_of(up, self.seconds, self.step_s)


_CACHE: dict[str, LinkSchedule] = {}


def _cache_key(profile: Profile, epoch: dt.datetime, duration_s: float, step_s: float,
               site: LunarSite | None) -> str:
    blob: dict[str, Any] = {
        "site": profile.site.model_dump(mode="json"),
        "relays": [r.model_dump(mode="json") for r in profile.relays],
        "networks": [g.model_dump(mode="json") for g in profile.ground_networks],
        "bands": [b.model_dump(mode="json") for b in profile.bands],
        "epoch": epoch.isoformat(), "duration": duration_s, "step": step_s,
        "override": repr(site),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


# ---- profile adapters ----------------------------------------------------
def site_of(profile: Profile) -> LunarSite:
    return LunarSite(profile.site.latitude_deg, profile.site.longitude_deg)


def relays_of(profile: Profile) -> tuple[RelaySpec, ...]:
    out = []
    for r in profile.relays:
        o = r.orbit
        el = KeplerElements(o.periapsis_altitude_km, o.apoapsis_altitude_km, o.inclination_deg,
                            o.raan_deg, o.arg_periapsis_deg, o.mean_anomaly_deg)
        out.append(RelaySpec(r.name, el, tuple(r.bands)))
    return tuple(out)


def stations_of(profile: Profile) -> tuple[StationSpec, ...]:
    out = []
    for net in profile.ground_networks:
        for s in net.stations:
            out.append(StationSpec(s.name, net.name, s.latitude_deg, s.longitude_deg, s.altitude_m,
                                   s.dish_diameter_m or _DEFAULT_DISH_M, tuple(s.bands)))
    return tuple(out)


def bands_of(profile: Profile) -> tuple[BandSpec, ...]:
    return tuple(
        BandSpec(b.name, float(b.bit_rate_bps), float(b.carrier_hz),
                 float(b.tx_power_w or _DEFAULT_TX_POWER_W),
                 float(b.antenna_gain_dbi if b.antenna_gain_dbi is not None else _DEFAULT_TX_GAIN_DBI),
                 Coding.of(b.rs_interleave, b.convolutional), tuple(b.paths))
        for b in profile.bands
    )

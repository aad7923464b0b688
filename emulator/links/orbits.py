"""Relay orbits about the Moon: Keplerian elements -> state, then a numerical
propagation with the Moon's J2 and the Earth's and Sun's third-body pull.

Why these forces: a high polar lunar orbit is shaped mostly by the Earth's
tide (it drives the eccentricity/inclination exchange that lets such orbits
"freeze" with apolune over a pole) and by the Moon's oblateness near perilune.
Higher lunar harmonics (C22, mascons) matter for low orbits and are left out.

Frame: the elements are given in the Moon's body-fixed equator frame *frozen at
the epoch* (inclination from the lunar equator, RAAN from the prime meridian,
the Earth-facing meridian). The propagation runs in Moon-centred ICRF axes, so
the Moon turns under the orbit once a sidereal month.

Integrator: classical RK4 with a step proportional to the local dynamical time
sqrt(r^3 / mu) (short near perilune, long near apolune) and cubic Hermite dense
output on the caller's grid, vectorised over all relays at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .moon_frame import MOON_RADIUS_KM

__all__ = [
    "EARTH_GM_KM3_S2", "MOON_GM_KM3_S2", "MOON_J2", "SUN_GM_KM3_S2",
    "KeplerElements", "propagate_relays", "state_from_elements",
]

FloatArray = npt.NDArray[np.float64]

MOON_GM_KM3_S2 = 4902.800  # GRAIL GL0660B
MOON_J2 = 2.0330e-4  # GRAIL GL0660B, unnormalised, reference radius below
MOON_J2_RADIUS_KM = 1738.0
EARTH_GM_KM3_S2 = 398600.4418
SUN_GM_KM3_S2 = 1.32712440018e11
_STEP_FRACTION = 0.04  # RK4 step / sqrt(r^3/mu): ~50 m/orbit drift in a two-body test


@dataclass(frozen=True)
class KeplerElements:
    """Osculating elements about the Moon (km, degrees)."""

    periapsis_altitude_km: float
    apoapsis_altitude_km: float
    inclination_deg: float
    raan_deg: float = 0.0
    arg_periapsis_deg: float = 0.0
    mean_anomaly_deg: float = 0.0

    @property
    def semi_major_axis_km(self) -> float:
        return MOON_RADIUS_KM + 0.5 * (self.periapsis_altitude_km + self.apoapsis_altitude_km)

    @property
    def eccentricity(self) -> float:
        rp = MOON_RADIUS_KM + self.periapsis_altitude_km
        ra = MOON_RADIUS_KM + self.apoapsis_altitude_km
        return (ra - rp) / (ra + rp)

    @property
    def period_s(self) -> float:
        return float(2 * np.pi * np.sqrt(self.semi_major_axis_km ** 3 / MOON_GM_KM3_S2))


def _solve_kepler(mean_anomaly: float, e: float) -> float:
    ecc = mean_anomaly if e < 0.8 else np.pi
    for _ in range(50):
        delta = (ecc - e * np.sin(ecc) - mean_anomaly) / (1 - e * np.cos(ecc))
        ecc -= delta
        if abs(delta) < 1e-14:
            break
    return float(ecc)


def state_from_elements(el: KeplerElements, gm: float = MOON_GM_KM3_S2) -> FloatArray:
    """Position (km) and velocity (km/s) in the elements' own frame, shape (6,)."""
    a, e = el.semi_major_axis_km, el.eccentricity
    ecc = _solve_kepler(np.deg2rad(el.mean_anomaly_deg) % (2 * np.pi), e)
    nu = 2 * np.arctan2(np.sqrt(1 + e) * np.sin(ecc / 2), np.sqrt(1 - e) * np.cos(ecc / 2))
    r = a * (1 - e * np.cos(ecc))
    p = a * (1 - e * e)
    r_pf = np.array([r * np.cos(nu), r * np.sin(nu), 0.0])
    v_pf = np.sqrt(gm / p) * np.array([-np.sin(nu), e + np.cos(nu), 0.0])
    o, i, w = np.deg2rad([el.raan_deg, el.inclination_deg, el.arg_periapsis_deg])
    co, so, ci, si, cw, sw = np.cos(o), np.sin(o), np.cos(i), np.sin(i), np.cos(w), np.sin(w)
    rot = np.array([
        [co * cw - so * sw * ci, -co * sw - so * cw * ci, so * si],
        [so * cw + co * sw * ci, -so * sw + co * cw * ci, -co * si],
        [sw * si, cw * si, ci],
    ])
    return np.concatenate([rot @ r_pf, rot @ v_pf])


def _propagate_one(y0: FloatArray, t0: float, t_end: float, pole: FloatArray,
                   grid_t0: float, grid_dt: float, bodies: FloatArray, gms: FloatArray,
                   j2: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """RK4 for one relay in plain floats (a 3-vector is too small for numpy to
    pay off: ~5 us per acceleration instead of ~100 us). ``bodies`` (N, B, 3)
    are third-body positions on the grid, linearly interpolated (the Earth
    moves ~30 km along its path in 30 s; a chord is off by metres)."""
    px, py, pz = (float(c) for c in pole)
    mu = MOON_GM_KM3_S2
    kj2 = -1.5 * j2 * mu * MOON_J2_RADIUS_KM ** 2
    last = bodies.shape[0] - 1
    body_list = [(float(g), bodies[:, k, :].tolist()) for k, g in enumerate(gms)]

    def accel(t: float, x: float, y: float, z: float) -> tuple[float, float, float]:
        r2 = x * x + y * y + z * z
        r1 = r2 ** 0.5
        c = -mu / (r2 * r1)
        ax, ay, az = c * x, c * y, c * z
        if kj2:
            zp = x * px + y * py + z * pz
            k = kj2 / (r2 * r2 * r1)
            f = 1 - 5 * zp * zp / r2
            ax += k * (f * x + 2 * zp * px)
            ay += k * (f * y + 2 * zp * py)
            az += k * (f * z + 2 * zp * pz)
        if body_list:
            u = (t - grid_t0) / grid_dt
            i = min(max(int(u), 0), max(last - 1, 0))
            w = min(max(u - i, 0.0), 1.0) if last else 0.0
            for gm, pos in body_list:
                p0 = pos[i]
                p1 = pos[i + 1] if last else p0
                sx = p0[0] + w * (p1[0] - p0[0])
                sy = p0[1] + w * (p1[1] - p0[1])
                sz = p0[2] + w * (p1[2] - p0[2])
                dx, dy, dz = sx - x, sy - y, sz - z
                d3 = (dx * dx + dy * dy + dz * dz) ** 1.5
                s3 = (sx * sx + sy * sy + sz * sz) ** 1.5
                ax += gm * (dx / d3 - sx / s3)
                ay += gm * (dy / d3 - sy / s3)
                az += gm * (dz / d3 - sz / s3)
        return ax, ay, az

    x, y, z, vx, vy, vz = (float(c) for c in y0)
    t = t0
    times, states = [t], [(x, y, z, vx, vy, vz)]
    a1 = accel(t, x, y, z)
    step_k = _STEP_FRACTION / mu ** 0.5
    while t < t_end:
        r2 = x * x + y * y + z * z
        h = min(step_k * r2 ** 0.75, t_end - t)
        hh = 0.5 * h
        # Classical RK4 on (r, v): r' = v, v' = a(t, r).
        k2r = (vx + hh * a1[0], vy + hh * a1[1], vz + hh * a1[2])
        a2 = accel(t + hh, x + hh * vx, y + hh * vy, z + hh * vz)
        k3r = (vx + hh * a2[0], vy + hh * a2[1], vz + hh * a2[2])
        a3 = accel(t + hh, x + hh * k2r[0], y + hh * k2r[1], z + hh * k2r[2])
        k4r = (vx + h * a3[0], vy + h * a3[1], vz + h * a3[2])
        a4 = accel(t + h, x + h * k3r[0], y + h * k3r[1], z + h * k3r[2])
        h6 = h / 6
        x += h6 * (vx + 2 * k2r[0] + 2 * k3r[0] + k4r[0])
        y += h6 * (vy + 2 * k2r[1] + 2 * k3r[1] + k4r[1])
        z += h6 * (vz + 2 * k2r[2] + 2 * k3r[2] + k4r[2])
        vx += h6 * (a1[0] + 2 * a2[0] + 2 * a3[0] + a4[0])
        vy += h6 * (a1[1] + 2 * a2[1] + 2 * a3[1] + a4[1])
        vz += h6 * (a1[2] + 2 * a2[2] + 2 * a3[2] + a4[2])
        t += h
        a1 = accel(t, x, y, z)
        times.append(t)
        states.append((x, y, z, vx, vy, vz))
    arr = np.array(states)
    return np.array(times), arr[:, :3], arr[:, 3:]


def propagate_relays(
    initial_states: FloatArray,
    seconds: FloatArray,
    *,
    pole: FloatArray,
    earth_from_moon: FloatArray | None = None,
    sun_from_moon: FloatArray | None = None,
    j2: float = MOON_J2,
) -> FloatArray:
    """Propagate (R, 6) Moon-centred ICRF states from ``seconds[0]``; returns
    positions (R, N, 3) km at every instant of the (uniform, increasing) grid.
    ``earth_from_moon``/``sun_from_moon`` (N, 3) on the same grid switch on
    the third-body terms. Each relay takes its own steps (one near perilune
    while the other is near apolune), and the dense output is vectorised."""
    seconds = np.asarray(seconds, dtype=np.float64)
    positions: list[FloatArray] = []
    gms: list[float] = []
    if earth_from_moon is not None:
        positions.append(earth_from_moon)
        gms.append(EARTH_GM_KM3_S2)
    if sun_from_moon is not None:
        positions.append(sun_from_moon)
        gms.append(SUN_GM_KM3_S2)
    bodies = np.stack(positions, axis=1) if positions else np.zeros((seconds.size, 0, 3))
    grid_dt = float(seconds[1] - seconds[0]) if seconds.size > 1 else 1.0
    out = np.empty((len(initial_states), seconds.size, 3))
    for k, y0 in enumerate(np.asarray(initial_states, dtype=np.float64)):
        tk, rk, vk = _propagate_one(y0, float(seconds[0]), float(seconds[-1]), pole,
                                    float(seconds[0]), grid_dt, bodies, np.asarray(gms), j2)
        out[k] = _hermite(tk, rk[None], vk[None], seconds)[0]
    return out


def _hermite(tk: FloatArray, rk: FloatArray, vk: FloatArray, tq: FloatArray) -> FloatArray:
    """Cubic Hermite positions at ``tq`` from positions/velocities (R, K, 3) at ``tk``."""
    if tk.size == 1:
        return np.repeat(rk[:, :1], tq.size, axis=1)
    i = np.clip(np.searchsorted(tk, tq, side="right") - 1, 0, tk.size - 2)
    h = (tk[i + 1] - tk[i])[None, :, None]
    s = ((tq - tk[i]) / (tk[i + 1] - tk[i]))[None, :, None]
    p0, v0 = rk[:, i], vk[:, i]
    p1, v1 = rk[:, i + 1], vk[:, i + 1]
    h00 = 2 * s ** 3 - 3 * s ** 2 + 1
    h10 = s ** 3 - 2 * s ** 2 + s
    h01 = -2 * s ** 3 + 3 * s ** 2
    h11 = s ** 3 - s ** 2
    return h00 * p0 + h10 * h * v0 + h01 * p1 + h11 * h * v1

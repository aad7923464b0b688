"""Powered descent: dynamics, guidance, the altitude estimator and the terrain.

A planar point mass over a spherical Moon (gravity 1.62 m/s^2 minus the
centripetal term vx^2/R, which is what keeps a 1.69 km/s orbit up) with one
throttleable main engine; mass flow from the rocket equation, mdot = F/(Isp g0).

Guidance flies on the *estimate*: it holds a vertical-velocity schedule
vz_ref = -h_est / t_go with t_go = time to null the horizontal velocity + 40 s,
gives the vertical axis priority and spends the rest of the thrust on braking;
below 100 m (estimated) it descends at a constant slow rate until contact.

The estimator integrates the IMU vertical velocity and corrects with the laser
range finder (LRF). A reading further than a gate from the estimate is refused;
after 10 refusals in a row the sensor is declared failed and never used again.
That is the HAKUTO-R Mission 1 failure (REFERENCE.md, April 2023): over the rim
of Atlas crater the range jumped by ~3 km, the software rejected the LRF from
then on, its estimate reached 0 m at ~5 km true altitude, and the lander
descended slowly until the propellant ran out and fell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

LUNAR_GRAVITY_MPS2 = 1.62
LUNAR_RADIUS_M = 1737.4e3
LUNAR_GM_M3_S2 = 4.9048695e12
G0_MPS2 = 9.80665
TERMINAL_GATE_M = 100.0  # estimated altitude where the constant-rate descent starts
BRAKING_END_MPS = 100.0  # horizontal speed where braking hands over to approach
REJECTIONS_TO_FAIL = 10  # consecutive gated readings before the LRF is declared failed
ESTIMATOR_GAIN = 0.05  # per 0.1 s step: ~2 s time constant
VERTICAL_GAIN = 0.5  # 1/s
HORIZONTAL_GAIN = 0.3  # 1/s
RIM_BEHIND_M = 1000.0  # an injected crater rim lies this far behind the crossing point



class Phase(IntEnum):
    """Flight phase, the value of state key ``gnc.phase``."""

    CRUISE = 0
    BRAKING = 1
    APPROACH = 2
    TERMINAL = 3
    LANDED = 4
    CRASHED = 5

    @property
    def label(self) -> str:
        return self.name.lower()


FLYING_PHASES = frozenset({Phase.BRAKING, Phase.APPROACH, Phase.TERMINAL})


def orbital_speed_mps(altitude_m: float) -> float:
    """Circular orbit speed at this altitude."""
    return math.sqrt(LUNAR_GM_M3_S2 / (LUNAR_RADIUS_M + altitude_m))


@dataclass(slots=True)
class Terrain:
    """Terrain height (m) along the downrange track: two gentle undulations
    (phases from the seed) plus any crater-rim drops injected as faults."""

    phase_a: float
    phase_b: float
    # (downrange where the drop starts, jump_m, slope_drop_m, slope_length_m)
    drops: list[tuple[float, float, float, float]]

    def height_m(self, x_m: float) -> float:
        z = 120.0 * math.sin(x_m / 9000.0 + self.phase_a) + 40.0 * math.sin(
            x_m / 2300.0 + self.phase_b
        )
        for x0, jump, slope_drop, slope_len in self.drops:
            # The rim lies RIM_BEHIND_M behind the point where the lander crossed
            # it, so drifting back a little while hovering does not recross it.
            if x_m >= x0 - RIM_BEHIND_M:
                z -= jump + slope_drop * min(1.0, max(0.0, x_m - x0) / slope_len)
        return z


@dataclass(slots=True)
class DescentCommand:
    """Guidance output for one step."""

    ax_mps2: float  # commanded horizontal acceleration (thrust only)
    az_mps2: float  # commanded vertical acceleration (thrust only)
    thrust_n: float
    phase: Phase


def guidance(
    est_altitude_m: float,
    est_vz_mps: float,
    vx_mps: float,
    mass_kg: float,
    max_thrust_n: float,
    terminal_mps: float,
) -> DescentCommand:
    """Thrust command from the estimated state (see the module docstring)."""
    g_eff = LUNAR_GRAVITY_MPS2 - vx_mps * vx_mps / LUNAR_RADIUS_M
    a_max = max_thrust_n / mass_kg
    if est_altitude_m <= TERMINAL_GATE_M and abs(vx_mps) < BRAKING_END_MPS:
        phase = Phase.TERMINAL
        vz_ref = -terminal_mps
    else:
        phase = Phase.BRAKING if abs(vx_mps) > BRAKING_END_MPS else Phase.APPROACH
        a_h_nominal = 0.8 * math.sqrt(max(a_max * a_max - LUNAR_GRAVITY_MPS2**2, 0.01))
        t_go = abs(vx_mps) / a_h_nominal + 40.0
        vz_ref = -min(150.0, max(terminal_mps, est_altitude_m / t_go))
    az = min(a_max, max(0.0, g_eff + VERTICAL_GAIN * (vz_ref - est_vz_mps)))
    a_h_avail = math.sqrt(max(a_max * a_max - az * az, 0.0))
    ax = -math.copysign(min(a_h_avail, HORIZONTAL_GAIN * abs(vx_mps)), vx_mps)
    thrust = mass_kg * math.hypot(ax, az)
    return DescentCommand(ax, az, min(thrust, max_thrust_n), phase)


#: Terrain-aware gate: this many refused readings in a row whose innovations
#: agree within TERRAIN_STEP_SPREAD are a terrain step, not a sensor fault.
TERRAIN_STEP_READINGS = 5
TERRAIN_STEP_SPREAD = 0.05  # relative spread of the innovations (noise is ~0.2 %)


def terrain_step(innovations: list[float]) -> bool:
    """Whether the last refused readings agree on one offset (a crater rim or a
    cliff moved the ground) rather than scatter (a sensor fault)."""
    if len(innovations) < TERRAIN_STEP_READINGS:
        return False
    recent = innovations[-TERRAIN_STEP_READINGS:]
    mean = sum(recent) / len(recent)
    spread = max(recent) - min(recent)
    return spread <= TERRAIN_STEP_SPREAD * abs(mean)


def lrf_gate_ok(range_m: float, est_altitude_m: float, gate_m: float) -> bool:
    """Innovation gate: accept a reading within ``gate_m`` (or 10 %) of the estimate."""
    return abs(range_m - est_altitude_m) <= max(gate_m, 0.1 * est_altitude_m)

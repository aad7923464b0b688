"""GNC flight-computer firmware stub: altitude estimator with an innovation gate,
and a powered-descent guidance law.  Plain Python (MicroPython-compatible).

Estimator.  The altitude estimate is propagated with the IMU vertical velocity
and corrected by the laser range finder (LRF) with a fixed gain.  A reading whose
innovation (reading - estimate) exceeds the gate, max(gate_m, 10 % of the
estimate), is refused; ten refusals in a row declare the LRF failed for good.
That is the estimator HAKUTO-R Mission 1 flew in April 2023: over the rim of
Atlas crater the range jumped by ~3 km, the LRF was declared failed, the
estimate reached 0 m at ~5 km true altitude and the lander fell.

Terrain-aware gate (``terrain_aware=True``).  A sensor fault gives scattered
innovations; a terrain step (a crater rim) gives the *same* innovation reading
after reading, because the ground moved, not the sensor.  When
``TERRAIN_CONSISTENT_READINGS`` refused readings in a row agree with each other
within the gate, the estimator re-anchors on the LRF instead of failing it.

Guidance.  A vertical-velocity schedule vz_ref = -h_est / t_go, with
t_go = |vx| / a_h + 40 s, vertical axis first and the remaining thrust on
braking; below 100 m (estimated) a constant slow descent until contact.  The
answer is a throttle (0..1) and a pitch target (deg from vertical, the thrust
direction in the descent plane).
"""

import math

try:
    from .protocol import (
        FLAG_LRF_FAILED,
        FLAG_LRF_REJECTED,
        FLAG_TERRAIN_RESET,
        GncActuators,
    )
except ImportError:  # pragma: no cover - MicroPython: flat file system
    from protocol import (  # type: ignore[no-redef]
        FLAG_LRF_FAILED,
        FLAG_LRF_REJECTED,
        FLAG_TERRAIN_RESET,
        GncActuators,
    )

LUNAR_GRAVITY_MPS2 = 1.62
LUNAR_RADIUS_M = 1737.4e3
ESTIMATOR_GAIN = 0.05  # per 0.1 s step: ~2 s time constant
GATE_M = 500.0
GATE_FRACTION = 0.1
REJECTIONS_TO_FAIL = 10
TERRAIN_CONSISTENT_READINGS = 5
TERMINAL_GATE_M = 100.0
BRAKING_END_MPS = 100.0
VERTICAL_GAIN = 0.5
HORIZONTAL_GAIN = 0.3

PHASE_BRAKING = 1
PHASE_APPROACH = 2
PHASE_TERMINAL = 3


class GncFirmware:
    """One GNC board's state: ``step(GncSensors) -> GncActuators``."""

    def __init__(self, terrain_aware=False, gate_m=GATE_M):
        self.terrain_aware = terrain_aware
        self.gate_m = gate_m
        self.reset()

    def reset(self):
        self.est_h = None
        self.refusals = 0
        self.lrf_failed = False
        self.refused_innovations = []
        self.terrain_resets = 0

    def gate(self):
        return max(self.gate_m, GATE_FRACTION * self.est_h)

    def _estimate(self, s):
        flags = 0
        if self.est_h is None:
            self.est_h = s.nav_altitude_m
        if s.lrf_valid and not self.lrf_failed:
            innovation = s.lrf_range_m - self.est_h
            gate = self.gate()
            if abs(innovation) <= gate:
                self.refusals = 0
                self.refused_innovations = []
                self.est_h += ESTIMATOR_GAIN * innovation
            else:
                flags |= FLAG_LRF_REJECTED
                self.refusals += 1
                self.refused_innovations.append(innovation)
                if self.terrain_aware and self._terrain_step(gate):
                    # The ground stepped: believe the sensor, keep it.
                    self.est_h = s.lrf_range_m
                    self.refusals = 0
                    self.refused_innovations = []
                    self.terrain_resets += 1
                    flags |= FLAG_TERRAIN_RESET
                elif self.refusals >= REJECTIONS_TO_FAIL:
                    self.lrf_failed = True
        if self.lrf_failed:
            flags |= FLAG_LRF_FAILED
        return flags

    def _terrain_step(self, gate):
        recent = self.refused_innovations[-TERRAIN_CONSISTENT_READINGS:]
        if len(recent) < TERRAIN_CONSISTENT_READINGS:
            return False
        return max(recent) - min(recent) <= gate

    def step(self, s):
        flags = self._estimate(s)
        est_h = self.est_h
        vx = s.vx_mps
        max_thrust = s.max_thrust_n if s.propellant_kg > 0 else 0.0
        mass = s.mass_kg
        g_eff = LUNAR_GRAVITY_MPS2 - vx * vx / LUNAR_RADIUS_M
        a_max = max_thrust / mass if mass > 0 else 0.0
        if est_h <= TERMINAL_GATE_M and abs(vx) < BRAKING_END_MPS:
            phase = PHASE_TERMINAL
            vz_ref = -s.terminal_mps
        else:
            phase = PHASE_BRAKING if abs(vx) > BRAKING_END_MPS else PHASE_APPROACH
            a_h_nominal = 0.8 * math.sqrt(max(a_max * a_max - LUNAR_GRAVITY_MPS2 ** 2, 0.01))
            t_go = abs(vx) / a_h_nominal + 40.0
            vz_ref = -min(150.0, max(s.terminal_mps, est_h / t_go))
        az = min(a_max, max(0.0, g_eff + VERTICAL_GAIN * (vz_ref - s.imu_vz_mps)))
        a_h_avail = math.sqrt(max(a_max * a_max - az * az, 0.0))
        ax = -math.copysign(min(a_h_avail, HORIZONTAL_GAIN * abs(vx)), vx)
        accel = math.sqrt(ax * ax + az * az)
        throttle = min(1.0, accel / a_max) if a_max > 0 else 0.0
        pitch = math.degrees(math.atan2(ax, az)) if accel > 0 else 0.0
        answer = GncActuators(s.t_s, throttle, pitch, 90.0, max(0.0, est_h), phase, flags)
        # Propagate to the next step with the IMU vertical velocity.
        self.est_h = est_h + s.imu_vz_mps * s.dt_s
        return answer

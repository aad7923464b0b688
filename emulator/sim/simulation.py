"""The coupled lander simulation: physics state over time, in blocks.

:class:`LanderSimulation` steps the subsystem models in
:mod:`emulator.sim.models` on its own time grid (0.1 s in powered descent, 10 s
in lunar orbit, 60 s on the surface; see :class:`LanderParams`) and hands the
results out as :class:`StateBlock` objects that the engine samples at telemetry
rates by interpolation.

Determinism: the grid and the random draws depend only on the parameters, the
scenario, the faults and the seed, never on how :meth:`LanderSimulation.advance`
is called. The simulation may compute a few steps past ``until_s``; those are
kept for the next block, so any split of the run gives the same arrays.

Coupling, per step (left-point rule, values in the row at ``t_k`` hold over
``[t_k, t_k+1)``): Sun elevation -> array output and regolith temperature;
mode -> loads; thermostat -> heater load; generation - load -> battery (charge,
dump, or discharge and shed); supplied load + heater + RPS heat -> deck node;
deck -> battery, propulsion and radiator nodes.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..errors import LocalProtocolError
from .faults import Fault
from .models import comms, gnc, payload, power, rover, sun, thermal
from .params import LanderParams
from .scenario import Scenario

__all__ = [
    "DISCRETE_KEYS",
    "STATE_KEYS",
    "Event",
    "LanderSimulation",
    "StateBlock",
    "is_discrete_key",
]

#: Every key the simulation produces (per-instrument keys
#: ``payload.<id>.on`` / ``payload.<id>.data_rate_bps`` come on top, see
#: :attr:`LanderSimulation.state_keys`).
STATE_KEYS: tuple[str, ...] = (
    "time.mission_elapsed_s",
    "sun.elevation_deg", "sun.azimuth_deg", "sun.local_time_h",
    "earth.elevation_deg",
    "power.solar_w", "power.load_w", "power.heater_w", "power.rps_electrical_w", "power.net_w",
    "power.battery_soc", "power.battery_energy_wh", "power.battery_voltage_v",
    "power.battery_current_a", "power.bus_voltage_v", "power.shed_w", "power.dumped_w",
    "power.battery_w", "power.battery_capacity_wh",
    "thermal.surface_c", "thermal.avionics_c", "thermal.battery_c", "thermal.propulsion_c",
    "thermal.radiator_c", "thermal.heater_on",
    "gnc.altitude_m", "gnc.altitude_estimate_m", "gnc.vertical_velocity_mps",
    "gnc.horizontal_velocity_mps", "gnc.lrf_range_m", "gnc.lrf_valid", "gnc.lrf_rejected",
    "gnc.terrain_height_m", "gnc.roll_deg", "gnc.pitch_deg", "gnc.yaw_deg",
    "gnc.propellant_kg", "gnc.thrust_n", "gnc.phase", "gnc.downrange_m",
    "comms.link_up", "comms.elevation_deg", "comms.relay_visible", "comms.tx_power_w",
    "relays.deployed",
    "payload.data_volume_bytes", "payload.data_rate_bps", "payload.drill_depth_m",
    "rover.deployed", "rover.distance_m", "rover.battery_soc",
    "mode.lander", "fault.count",
    "sensor.lrf_ok", "sensor.imu_ok", "sensor.thermal_ok",
)

#: Keys that hold a value until the next sample (flags, counters, enumerations).
DISCRETE_KEYS: frozenset[str] = frozenset({
    "thermal.heater_on", "gnc.lrf_valid", "gnc.lrf_rejected", "gnc.phase",
    "comms.link_up", "comms.relay_visible", "relays.deployed", "rover.deployed",
    "mode.lander", "fault.count", "sensor.lrf_ok", "sensor.imu_ok", "sensor.thermal_ok",
})

MODE_CRUISE, MODE_DESCENT, MODE_DAY, MODE_NIGHT, MODE_SAFE, MODE_DEAD = range(6)
_MODE_NAMES = ("cruise", "descent", "surface day ops", "night survival", "safe", "dead")
_PHASE_NAMES = ("cruise", "braking", "approach", "terminal", "landed", "crashed")
_SAFE_ENTER_SOC = 0.10
_SAFE_EXIT_SOC = 0.20
_NOISE_CHUNK = 8192


def is_discrete_key(key: str) -> bool:
    """Whether a key is sampled with previous-value hold (else linearly)."""
    return key in DISCRETE_KEYS or key.endswith(".on")


@dataclass(frozen=True)
class Event:
    """Something that happened at sim time ``t_s``: a mode or phase change, a
    fault, a deployment. ``kind`` is a short machine name."""

    t_s: float
    kind: str
    message: str


@dataclass(frozen=True)
class StateBlock:
    """Physics state over a time span: ``t`` (M,) strictly increasing and covering
    the span asked for, ``values`` one (M,) float64 array per key."""

    t: npt.NDArray[np.float64]
    values: Mapping[str, npt.NDArray[np.float64]]
    events: tuple[Event, ...]

    def sample(
        self, keys: Sequence[str], times: npt.NDArray[np.float64]
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Values at ``times``: linear interpolation for continuous keys,
        previous-value hold for discrete ones. Times outside the block take the
        edge value."""
        times = np.asarray(times, dtype=np.float64)
        hold_index: npt.NDArray[np.intp] | None = None
        out: dict[str, npt.NDArray[np.float64]] = {}
        for key in keys:
            try:
                column = self.values[key]
            except KeyError:
                raise LocalProtocolError(f"unknown state key {key!r}") from None
            if is_discrete_key(key):
                if hold_index is None:
                    hold_index = np.clip(np.searchsorted(self.t, times, side="right") - 1,
                                         0, len(self.t) - 1)
                out[key] = column[hold_index]
            else:
                out[key] = np.interp(times, self.t, column)
        return out


class _Noise:
    """Gaussian draws in fixed chunks from one generator, consumed in step order."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._rng.standard_normal(_NOISE_CHUNK).tolist()
            self._i = 0
        value = self._buf[self._i]
        self._i += 1
        return value


class LanderSimulation:
    """The coupled physics of one lander in one scenario (see the module doc).

    ``time_s`` is the end of the last block handed out; ``finished`` becomes true
    when the lander is gone (crashed): later blocks only repeat the wreck.
    """

    def __init__(
        self,
        params: LanderParams,
        scenario: Scenario,
        *,
        seed: int = 0,
        faults: Sequence[Fault] = (),
    ) -> None:
        self.params = params
        self.scenario = scenario
        self.faults: tuple[Fault, ...] = tuple(
            sorted((*scenario.faults, *faults), key=lambda f: f.at_s)
        )
        self.seed = seed
        self.time_s = 0.0
        self._noise = _Noise(seed)
        terrain_rng = np.random.default_rng([seed, 1])
        phase_a, phase_b = (float(v) for v in terrain_rng.uniform(0.0, 2 * math.pi, 2))
        self._terrain = gnc.Terrain(phase_a, phase_b, [])
        self._instrument_keys = tuple(
            key
            for inst in params.instruments
            for key in (f"payload.{inst.id}.on", f"payload.{inst.id}.data_rate_bps")
        )
        self.state_keys: tuple[str, ...] = STATE_KEYS + self._instrument_keys
        self._tilt = (
            params.solar_array_tilt_deg
            if params.solar_array_tilt_deg is not None
            else 90.0 - abs(params.site_latitude_deg)
        )
        self._init_state()
        # Computed rows not yet handed out entirely; _rows[0] is at or before time_s.
        self._times: list[float] = []
        self._rows: list[tuple[float, ...]] = []
        self._events: list[Event] = []
        self._step()  # the row at t = 0

    # ----------------------------------------------------------------- state
    def _init_state(self) -> None:
        p, sc = self.params, self.scenario
        self._t = 0.0
        self._k = 0  # step index within the current grid segment
        self._segment_start = 0.0
        self._dt = {
            "cruise": p.cruise_step_s, "descent": p.descent_step_s, "surface": p.surface_step_s
        }[sc.phase]
        self._phase = {"cruise": gnc.PHASE_CRUISE, "descent": gnc.PHASE_BRAKING,
                       "surface": gnc.PHASE_LANDED}[sc.phase]
        self._mode = -1
        el0, _ = sun.sun_elevation_azimuth(
            p.site_latitude_deg, sc.start_local_time_h, sc.solar_declination_deg
        )
        self._surface_k = sun.regolith_equilibrium_k(el0)
        self._deck_c = p.initial_temperature_c
        self._battery_c = p.initial_temperature_c
        self._prop_c = p.initial_temperature_c
        self._heater_on = False
        self._capacity_wh = p.battery_capacity_wh
        self._energy_wh = p.battery_capacity_wh * 0.95  # assumed: charged before the scenario
        self._dead = False
        self._safe = False
        # GNC
        self._x = 0.0
        if sc.phase == "cruise":
            self._h = p.orbit_altitude_m
            self._vx = gnc.orbital_speed_mps(p.orbit_altitude_m)
        elif sc.phase == "descent":
            self._h = p.descent_start_altitude_m + self._terrain.height_m(0.0)
            self._vx = p.descent_start_horizontal_velocity_mps
        else:
            self._h = self._terrain.height_m(0.0)
            self._vx = 0.0
        self._vz = 0.0
        self._propellant = p.propellant_kg
        self._est_h: float | None = None  # set on the first descent step
        self._est_vz = 0.0
        self._imu_bias = 0.0
        self._lrf_failed = False
        self._lrf_refusals = 0
        self._attitude = (0.0, 0.0, 0.0)
        # A surface scenario starts landed: the rover delay counts from t = 0.
        self._touchdown_t: float | None = 0.0 if sc.phase == "surface" else None
        # Payload, rover, relays, faults
        self._data_bytes = 0.0
        self._drill_m = 0.0
        self._rover_deployed = False
        self._rover_soc = 1.0
        self._rover_m = 0.0
        # Relays leave before landing: a descent or surface scenario starts with
        # all carried relays in orbit; a cruise scenario deploys them on schedule.
        self._relays = p.relay_count if sc.phase != "cruise" and not sc.relay_deploy_s else 0
        self._active: set[int] = set()
        self._applied: set[int] = set()
        self._shedding = False
        self._crash_t: float | None = None

    # --------------------------------------------------------------- public
    @property
    def finished(self) -> bool:
        """True once the lander is gone (crashed at or before ``time_s``)."""
        return self._crash_t is not None and self._crash_t <= self.time_s

    def advance(self, until_s: float) -> StateBlock:
        """Physics from ``time_s`` to ``until_s``; returns the rows covering
        ``[time_s, until_s]`` and the events with ``t <= until_s`` not yet returned."""
        if not until_s >= self.time_s:
            raise LocalProtocolError(
                f"advance({until_s}) goes back in time (time_s = {self.time_s})"
            )
        while self._times[-1] < until_s:
            self._step()
        # _times[0] is at or before time_s: rows before it were dropped last time.
        times = self._times
        i1 = bisect.bisect_left(times, until_s)  # first row at or after until_s
        block_t = np.array(times[: i1 + 1], dtype=np.float64)
        table = np.array(self._rows[: i1 + 1], dtype=np.float64).T.copy()
        values = {key: table[j] for j, key in enumerate(self.state_keys)}
        n_events = 0
        while n_events < len(self._events) and self._events[n_events].t_s <= until_s:
            n_events += 1
        events = tuple(self._events[:n_events])
        del self._events[:n_events]
        keep = i1 if times[i1] <= until_s else i1 - 1
        del self._times[:keep]
        del self._rows[:keep]
        self.time_s = float(until_s)
        return StateBlock(block_t, values, events)

    # ------------------------------------------------------------ internals
    def _event(self, kind: str, message: str) -> None:
        self._events.append(Event(self._t, kind, message))

    def _update_faults(self) -> tuple[set[str], list[Fault]]:
        """Apply faults whose time has come; return the active kinds (sensor
        dropouts as 'sensor_dropout:lrf' etc.) and the active faults."""
        t = self._t
        active_kinds: set[str] = set()
        active: list[Fault] = []
        for i, fault in enumerate(self.faults):
            if fault.at_s > t:
                break
            if i not in self._applied:
                self._applied.add(i)
                self._event("fault_injected", f"fault injected: {fault.describe()}")
                self._apply_once(fault)
            if fault.active(t):
                self._active.add(i)
                key = fault.kind
                if key == "sensor_dropout":
                    key = f"sensor_dropout:{fault.text('sensor')}"
                active_kinds.add(key)
                active.append(fault)
            elif i in self._active:
                self._active.discard(i)
                self._event("fault_cleared", f"fault cleared: {fault.describe()}")
        return active_kinds, active

    def _apply_once(self, fault: Fault) -> None:
        if fault.kind == "battery_cell_loss":
            self._capacity_wh *= 1.0 - fault.number("fraction")
            self._energy_wh = min(self._energy_wh, self._capacity_wh)
        elif fault.kind == "lrf_altitude_jump":
            self._terrain.drops.append(
                (self._x, fault.number("jump_m"), fault.number("slope_drop_m"),
                 max(fault.number("slope_length_m"), 1.0))
            )

    def _step(self) -> None:
        """Compute the row at the current time and advance the state one step."""
        p, sc = self.params, self.scenario
        t = self._t
        dt = self._dt
        noise = self._noise
        kinds, active_faults = self._update_faults()
        lrf_out = "sensor_dropout:lrf" in kinds
        imu_out = "sensor_dropout:imu" in kinds
        thermal_out = "sensor_dropout:thermal" in kinds

        # Relays leave their bays at the scheduled times (APEX / Series 2); a
        # lander carries at most relay_count of them.
        n_relays = min(len(sc.relay_deploy_s), p.relay_count)
        while self._relays < n_relays and sc.relay_deploy_s[self._relays] <= t:
            self._relays += 1
            self._event("relay_deployed", f"relay satellite {self._relays} deployed")

        # Sun, Earth, regolith.
        local_h = sun.local_time_h(t, sc.start_local_time_h)
        decl = sun.solar_declination_deg(t, sc.solar_declination_deg)
        sun_el, sun_az = sun.sun_elevation_azimuth(p.site_latitude_deg, local_h, decl)
        earth_el = sun.earth_elevation_deg(t, p.site_latitude_deg, p.site_longitude_deg)
        surface_c = self._surface_k - thermal.KELVIN

        phase = self._phase
        crashed = phase == gnc.PHASE_CRASHED
        in_orbit = phase == gnc.PHASE_CRUISE
        on_surface = phase == gnc.PHASE_LANDED

        # ---- mode and loads
        soc_now = self._energy_wh / self._capacity_wh if self._capacity_wh > 0 else 0.0
        if crashed:
            mode = MODE_DEAD
        elif in_orbit:
            mode = MODE_CRUISE
        elif not on_surface:
            mode = MODE_DESCENT
        elif self._dead:
            mode = MODE_DEAD
        else:
            if self._safe and soc_now > _SAFE_EXIT_SOC:
                self._safe = False
            elif not self._safe and soc_now < _SAFE_ENTER_SOC:
                self._safe = True
            if self._safe:
                mode = MODE_SAFE
            elif sun_el > 0.0:
                mode = MODE_DAY
            else:
                mode = MODE_NIGHT
        if mode != self._mode:
            if self._mode >= 0:
                self._event("mode", f"mode {_MODE_NAMES[self._mode]} -> {_MODE_NAMES[mode]}")
            self._mode = mode
        base_load = (
            0.0 if crashed else
            (p.load_cruise_w, p.load_descent_w, p.load_surface_w,
             p.load_night_w, p.load_night_w, p.load_night_w)[mode]
        )

        # ---- heaters (thermostat on the deck; holds its state without a sensor)
        if crashed:
            self._heater_on = False
        elif "heater_stuck_on" in kinds:
            self._heater_on = True
        elif "heater_stuck_off" in kinds:
            self._heater_on = False
        elif not thermal_out:
            self._heater_on = thermal.thermostat(
                self._heater_on, self._deck_c, p.heater_setpoint_c, p.heater_hysteresis_k
            )
        heater_w = p.heater_power_w if self._heater_on else 0.0
        load_w = base_load + heater_w

        # ---- generation and battery
        remaining = 1.0  # several degradations compound
        for fault in active_faults:
            if fault.kind == "solar_array_degradation":
                remaining *= 1.0 - fault.number("fraction")
        degradation = 1.0 - remaining
        solar_w = 0.0 if crashed else power.solar_array_w(p.solar_array_peak_w, sun_el,
                                                          self._tilt, degradation)
        rps_w = 0.0 if crashed else p.rps_electrical_w
        net_w = solar_w + rps_w - load_w
        step = power.battery_step(
            self._energy_wh, self._capacity_wh, net_w, dt,
            p.battery_charge_efficiency, p.battery_discharge_efficiency,
        )
        soc = soc_now
        batt_v = power.battery_terminal_v(p.battery_nominal_v, soc, step.battery_w, self._capacity_wh)
        if crashed:
            batt_v = 0.0
        batt_i = step.battery_w / batt_v if batt_v > 0 else 0.0
        shedding = step.shed_w > 1e-9
        if shedding != self._shedding and not crashed:
            self._event("load_shed" if shedding else "load_restored",
                        "battery empty: shedding loads" if shedding else "loads restored")
            self._shedding = shedding
        # Bus brown-out: empty battery and generation below the survival load.
        if on_surface:
            was_dead = self._dead
            self._dead = self._energy_wh <= 0.0 and (solar_w + rps_w) < p.load_night_w
            if self._dead and not was_dead:
                self._event("bus_dead", "battery empty, bus unpowered")
        bus_v = 0.0 if (crashed or mode == MODE_DEAD) else p.bus_voltage_v
        supplied = 1.0 - step.shed_w / load_w if load_w > 0 else 0.0
        dissipated_w = load_w * supplied

        # ---- thermal nodes
        leak = p.conductance_w_per_k * (p.mli_leak_factor if p.mli else 1.0)
        if in_orbit:
            body_sink = rad_sink = thermal.CRUISE_SINK_C
        else:
            body_sink = thermal.sink_c(surface_c, p.body_ground_view_factor)
            rad_sink = thermal.sink_c(surface_c, p.radiator_ground_view_factor)
        louver = thermal.louver_fraction(self._deck_c, p.louver_open_c, p.louver_full_c)
        g_rad = p.radiator_conductance_w_per_k * louver
        radiator_c = (
            (thermal.RADIATOR_PLATE_W_PER_K * self._deck_c + max(g_rad, 0.05) * rad_sink)
            / (thermal.RADIATOR_PLATE_W_PER_K + max(g_rad, 0.05))
        )
        rps_heat = p.rps_thermal_w * p.rps_heat_coupling
        battery_loss_w = abs(step.battery_w) * (
            (1.0 - p.battery_charge_efficiency) if step.battery_w > 0
            else (1.0 / p.battery_discharge_efficiency - 1.0)
        )
        q_ab = thermal.BATTERY_COUPLING_W_PER_K * (self._deck_c - self._battery_c)
        q_ap = thermal.PROPULSION_COUPLING_W_PER_K * (self._deck_c - self._prop_c)
        q_deck = (
            dissipated_w + rps_heat - leak * (self._deck_c - body_sink)
            - g_rad * (self._deck_c - rad_sink) - q_ab - q_ap
        )
        q_batt = battery_loss_w + q_ab - leak * thermal.BATTERY_LEAK_FRACTION * (
            self._battery_c - body_sink)
        q_prop = q_ap - leak * thermal.PROPULSION_LEAK_FRACTION * (self._prop_c - body_sink)

        # ---- GNC (outputs are the state at t; integration to t + dt follows)
        terrain_z = self._terrain.height_m(self._x)
        true_alt = self._h - terrain_z
        vx_out, vz_out, x_out, prop_out = self._vx, self._vz, self._x, self._propellant
        lrf_range = 0.0
        lrf_valid = False
        thrust = 0.0
        phase_out = phase
        roll, pitch, yaw = self._attitude
        if phase in (gnc.PHASE_BRAKING, gnc.PHASE_APPROACH, gnc.PHASE_TERMINAL):
            if self._est_h is None:
                self._est_h = true_alt + p.initial_altitude_error_m * noise()
                self._imu_bias = 0.02 * noise()
            if not imu_out:
                # IMU-propagated vertical velocity with a small bias; frozen in a dropout.
                self._est_vz = self._vz + self._imu_bias
            est_h = self._est_h
            if not lrf_out and 0.0 < true_alt <= p.lrf_max_range_m:
                lrf_range = true_alt * (1.0 + p.lrf_noise_fraction * noise()) + noise()
                lrf_valid = True
                if not self._lrf_failed:
                    if gnc.lrf_gate_ok(lrf_range, est_h, p.lrf_gate_m):
                        self._lrf_refusals = 0
                        est_h += gnc.ESTIMATOR_GAIN * (lrf_range - est_h)
                    else:
                        self._lrf_refusals += 1
                        if self._lrf_refusals >= gnc.REJECTIONS_TO_FAIL:
                            self._lrf_failed = True
                            self._event("lrf_rejected",
                                        f"LRF declared failed: reading {lrf_range:.0f} m vs "
                                        f"estimate {est_h:.0f} m")
            mass = p.dry_mass_kg + self._propellant
            cmd = gnc.guidance(est_h, self._est_vz, self._vx, mass,
                               p.main_engine_thrust_n if self._propellant > 0 else 0.0,
                               p.terminal_descent_mps)
            thrust = cmd.thrust_n
            if cmd.phase != phase:
                self._set_phase(cmd.phase)
            phase_out = cmd.phase
            roll = 0.2 * noise()
            pitch = math.degrees(math.atan2(cmd.ax_mps2, cmd.az_mps2)) if thrust > 0 else 0.0
            pitch += 0.2 * noise()
            yaw = 90.0 + 0.2 * noise()
            self._attitude = (roll, pitch, yaw)
            est_out = max(0.0, est_h)
            # Integrate (semi-implicit Euler); the commanded direction is kept
            # when the thrust saturates.
            g_eff = gnc.LUNAR_GRAVITY_MPS2 - self._vx * self._vx / gnc.LUNAR_RADIUS_M
            a_cmd = math.hypot(cmd.ax_mps2, cmd.az_mps2)
            scale = thrust / (mass * a_cmd) if thrust > 0 and a_cmd > 0 else 0.0
            self._vx += cmd.ax_mps2 * scale * dt
            self._vz += (cmd.az_mps2 * scale - g_eff) * dt
            burn = thrust / (p.main_engine_isp_s * gnc.G0_MPS2) * dt
            if burn >= self._propellant > 0:
                self._event("propellant_depleted", "propellant depleted, engine off")
            self._propellant = max(0.0, self._propellant - burn)
            self._x += self._vx * dt
            self._h += self._vz * dt
            self._est_h = est_h + self._est_vz * dt
            new_alt = self._h - self._terrain.height_m(self._x)
            if new_alt <= 0.0:
                self._contact(new_alt)
        elif phase == gnc.PHASE_CRUISE:
            est_out = true_alt
            self._x += self._vx * dt
        else:
            est_out = 0.0 if crashed else max(0.0, true_alt)

        # ---- comms, payload, rover
        relay_el = comms.relay_elevation_deg(
            t, self._relays, p.relay_count, p.relay_period_s,
            p.relay_visible_fraction,
        )
        link_up, link_el, relay_visible = comms.link_state(
            earth_el, relay_el, p.min_link_elevation_deg, in_orbit
        )
        powered = not crashed and mode != MODE_DEAD
        link_up = link_up and powered
        operating = mode == MODE_DAY
        inst_values: list[float] = []
        total_rate = 0.0
        for idx, inst in enumerate(p.instruments):
            on = payload.instrument_on(t, idx, inst.duty, operating)
            rate = inst.data_rate_bps if on else 0.0
            total_rate += rate
            inst_values.append(1.0 if on else 0.0)
            inst_values.append(rate)
        drill = self._drill_m
        if p.has_rover and on_surface and not self._rover_deployed and self._touchdown_t is not None \
                and operating and t >= self._touchdown_t + p.rover_deploy_delay_s:
            self._rover_deployed = True
            self._event("rover_deployed", "rover deployed to the surface")
        rover_soc, rover_m = self._rover_soc, self._rover_m

        row = (
            t,
            sun_el, sun_az, local_h,
            earth_el,
            solar_w, load_w, heater_w, rps_w, net_w,
            soc, self._energy_wh, batt_v, batt_i, bus_v, step.shed_w, step.dumped_w,
            step.battery_w, self._capacity_wh,
            surface_c, self._deck_c, self._battery_c, self._prop_c, radiator_c,
            1.0 if self._heater_on else 0.0,
            max(0.0, true_alt), est_out, vz_out, abs(vx_out),
            lrf_range, 1.0 if lrf_valid else 0.0, 1.0 if self._lrf_failed else 0.0,
            terrain_z, roll, pitch, yaw,
            prop_out, thrust, float(phase_out), x_out,
            1.0 if link_up else 0.0, link_el, 1.0 if relay_visible else 0.0,
            p.tx_power_w if link_up else 0.0,
            float(self._relays),
            self._data_bytes, total_rate, drill,
            1.0 if self._rover_deployed else 0.0, rover_m, rover_soc if p.has_rover else 0.0,
            float(mode), float(len(self._active)),
            0.0 if lrf_out else 1.0, 0.0 if imu_out else 1.0, 0.0 if thermal_out else 1.0,
            *inst_values,
        )
        self._times.append(t)
        self._rows.append(row)

        # ---- integrate the slow states to t + dt
        self._energy_wh = step.energy_wh
        self._deck_c += q_deck * dt / p.thermal_capacity_j_per_k
        self._battery_c += q_batt * dt / thermal.battery_capacity_j_per_k(p.battery_capacity_wh)
        self._prop_c += q_prop * dt / thermal.PROPULSION_CAPACITY_J_PER_K
        self._surface_k = sun.regolith_step_k(self._surface_k, sun_el, dt)
        self._data_bytes += total_rate / 8.0 * dt
        self._drill_m = payload.drill_step(drill, p.drill_rate_m_per_h, dt,
                                           operating and p.has_drill)
        if self._rover_deployed:
            self._rover_soc, self._rover_m = rover.rover_step(
                rover_soc, rover_m, sun_el > 0.0, p.rover_speed_mps, dt)

        # ---- next grid point (the grid only changes at phase changes)
        self._k += 1
        self._t = self._segment_start + self._k * self._dt

    def _set_phase(self, phase: int) -> None:
        self._event("phase", f"descent phase {_PHASE_NAMES[self._phase]} -> {_PHASE_NAMES[phase]}")
        self._phase = phase

    def _contact(self, altitude_m: float) -> None:
        """Surface contact during the step: land or crash; switch to the surface grid."""
        p = self.params
        t_contact = self._t + self._dt
        speed = math.hypot(self._vx, self._vz)
        self._h -= altitude_m  # on the ground
        if -self._vz <= p.touchdown_max_vertical_mps and abs(self._vx) <= 2.0:
            new_phase = gnc.PHASE_LANDED
            message = f"touchdown at {-self._vz:.1f} m/s vertical"
            rng = np.random.default_rng([self.seed, 2])
            slope = rng.normal(0.0, 2.0, 2)
            self._attitude = (float(slope[0]), float(slope[1]), self._attitude[2])
        else:
            new_phase = gnc.PHASE_CRASHED
            message = f"impact at {speed:.0f} m/s: lander lost"
            self._attitude = (37.0, -64.0, self._attitude[2])
        self._events.append(Event(t_contact, "touchdown" if new_phase == 4 else "crash", message))
        self._events.append(Event(t_contact, "phase",
                                  f"descent phase {_PHASE_NAMES[self._phase]} -> "
                                  f"{_PHASE_NAMES[new_phase]}"))
        self._phase = new_phase
        self._touchdown_t = t_contact
        if new_phase == gnc.PHASE_CRASHED:
            self._crash_t = t_contact
        self._vx = self._vz = 0.0
        self._est_h = 0.0
        # New grid segment: contact time, then surface steps.
        self._segment_start = t_contact
        self._k = -1  # _step adds one; the next row is at t_contact
        self._dt = p.surface_step_s


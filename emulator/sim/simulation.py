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

One step is a chain of subsystem step functions, each returning its outputs
keyed by state key (:mod:`lunar_hil.emulator.state_keys`); a later subsystem
reads an earlier one's outputs by key. Coupling, per step (left-point rule,
values in the row at ``t_k`` hold over ``[t_k, t_k+1)``): date -> Sun and
Earth -> array output and regolith temperature; mode -> loads; thermostat ->
heater load; generation - load -> battery (charge, dump, or discharge and
shed); supplied load + heater + RPS heat -> deck node; deck -> battery,
propulsion and radiator nodes.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

import numpy as np
import numpy.typing as npt

from ..errors import CommandError, LocalProtocolError
from ..state_keys import DISCRETE_STATE_KEYS, STATE_KEYS, instrument_state_keys, is_discrete_key
from .faults import Fault
from .models import comms, gnc, payload, power, rover, sun, thermal
from .models.gnc import Phase
from .params import CommandParams, LanderParams
from .scenario import Scenario

__all__ = [
    "DISCRETE_KEYS",
    "STATE_KEYS",
    "Event",
    "EventKind",
    "LanderSimulation",
    "Mode",
    "Phase",
    "StateBlock",
    "is_discrete_key",
]

DISCRETE_KEYS = DISCRETE_STATE_KEYS


class Mode(IntEnum):
    """Lander mode, the value of state key ``mode.lander``."""

    CRUISE = 0
    DESCENT = 1
    DAY = 2
    NIGHT = 3
    SAFE = 4
    DEAD = 5

    @property
    def label(self) -> str:
        return _MODE_NAMES[self]


_MODE_NAMES = ("cruise", "descent", "surface day ops", "night survival", "safe", "dead")
_PHASE_NAMES = tuple(p.label for p in Phase)


class EventKind(StrEnum):
    """What an :class:`Event` reports (its value is the machine name)."""

    MODE = "mode"
    PHASE = "phase"
    FAULT_INJECTED = "fault_injected"
    FAULT_CLEARED = "fault_cleared"
    RELAY_DEPLOYED = "relay_deployed"
    ROVER_DEPLOYED = "rover_deployed"
    LOAD_SHED = "load_shed"
    LOAD_RESTORED = "load_restored"
    BUS_DEAD = "bus_dead"
    CHARGE_INHIBITED = "charge_inhibited"
    CHARGE_ENABLED = "charge_enabled"
    TEMPERATURE_LIMIT = "temperature_limit"
    TEMPERATURE_NOMINAL = "temperature_nominal"
    SURVIVAL_LIMIT = "survival_limit"
    BRAKING_COMPLETE = "braking_complete"
    HORIZONTAL_NULLED = "horizontal_nulled"
    LRF_REJECTED = "lrf_rejected"
    LRF_REACQUIRED = "lrf_reacquired"
    ESTIMATE_ZERO = "estimate_zero"
    PROPELLANT_DEPLETED = "propellant_depleted"
    TOUCHDOWN = "touchdown"
    CRASH = "crash"
    COMMAND = "command"


#: Events after which the lander sends nothing more.
LOSS_EVENT_KINDS = frozenset({EventKind.CRASH})

_SAFE_ENTER_SOC = 0.10
_SAFE_EXIT_SOC = 0.20
_NOISE_CHUNK = 8192
_HORIZONTAL_NULLED_MPS = 1.0

# Telecommands whose effect lies in the sim; every other known command is only
# counted here (its effect is in the downlink, the recorder or the boards).
_MODE_COMMANDS = {0: None, 2: Mode.DAY, 3: Mode.NIGHT, 4: Mode.SAFE}


@dataclass(frozen=True)
class Event:
    """Something that happened at sim time ``t_s``: a mode or phase change, a
    fault, a deployment."""

    t_s: float
    kind: EventKind
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


@dataclass(frozen=True)
class _ActiveFaults:
    kinds: frozenset[str]
    solar_remaining: float  # product of (1 - fraction) of the active degradations

    def has(self, kind: str) -> bool:
        return kind in self.kinds


@dataclass(frozen=True)
class _PendingCommand:
    t_s: float
    spec: CommandParams
    args: Mapping[str, float]


#: A flight computer in the loop (see :attr:`LanderSimulation.gnc_computer`).
GncComputer = Callable[[dict[str, float]], "tuple[float, float, float] | None"]


class LanderSimulation:
    """The coupled physics of one lander in one scenario (see the module doc).

    ``time_s`` is the end of the last block handed out; ``finished`` becomes true
    when the lander is gone (crashed): later blocks only repeat the wreck.
    ``start_utc`` is the UTC instant of sim time 0: the scenario epoch, moved
    to the first requested local solar time at the site when the scenario
    asks for one.
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
            key for inst in params.instruments for key in instrument_state_keys(inst.id)
        )
        self.state_keys: tuple[str, ...] = STATE_KEYS + self._instrument_keys
        calendar = sun.LunarCalendar(scenario.epoch_utc, params.site_longitude_deg,
                                     scenario.solar_declination_deg)
        if scenario.start_local_time_h is not None:
            calendar = calendar.shifted(calendar.first_local_time_after(scenario.start_local_time_h))
        self._calendar = calendar
        self.start_utc: datetime = calendar.start_utc
        self._floor_k = (
            params.regolith_night_floor_k if params.regolith_night_floor_k is not None
            else sun.night_floor_k(params.site_latitude_deg)
        )
        self._commands = {c.name: c for c in params.commands}
        #: A flight computer in the loop: called every powered-descent step with the
        #: sensor set, returns (throttle 0..1, thrust-axis pitch deg, altitude
        #: estimate m), or None to fly the built-in guidance for that step.
        self.gnc_computer: GncComputer | None = None
        #: The link model, when a run uses it: sim time -> (a path delivers now,
        #: elevation of the path's far end in deg, the lander sees a relay). It
        #: replaces the built-in relay duty cycle, so COM_LINK_UP says what the
        #: frames do (none are sent while it is 0).
        self.link_oracle: Callable[[float], tuple[bool, float, bool]] | None = None
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
        self._phase = {"cruise": Phase.CRUISE, "descent": Phase.BRAKING,
                       "surface": Phase.LANDED}[sc.phase]
        self._mode: Mode | None = None
        local, decl, _, _ = self._calendar.at(0.0)
        el0, _ = sun.sun_elevation_azimuth(p.site_latitude_deg, local, decl)
        self._surface_k = sun.regolith_equilibrium_k(el0, self._floor_k)
        self._deck_c = p.initial_temperature_c
        self._battery_c = p.initial_temperature_c
        self._prop_c = p.initial_temperature_c
        self._heater_on = False
        self._capacity_wh = p.battery_capacity_wh
        self._energy_wh = p.battery_capacity_wh * 0.95  # assumed: charged before the scenario
        self._dead = False
        self._safe = False
        self._charge_inhibited = False
        self._limit_state: dict[str, int] = {"avionics": 0, "battery": 0}
        # GNC
        self._x = 0.0
        if sc.phase == "cruise":
            self._h = p.orbit_altitude_m
            self._vx = gnc.orbital_speed_mps(p.orbit_altitude_m)
        elif sc.phase == "descent":
            self._h = p.descent_start_altitude_m + self._terrain.height_m(0.0)
            self._vx = p.descent_start_horizontal_velocity_mps
            self._vz = p.descent_start_vertical_velocity_mps
        else:
            self._h = self._terrain.height_m(0.0)
            self._vx = 0.0
        if sc.phase != "descent":
            self._vz = 0.0
        self._propellant = p.propellant_kg
        self._est_h: float | None = None  # set on the first descent step
        self._est_vz = 0.0
        self._imu_bias = 0.0
        self._lrf_failed = False
        self._lrf_innovations: list[float] = []
        self._thrust_angle: float | None = None  # rad from vertical, rate-limited
        self._attitude = (0.0, 0.0, 0.0)
        self._braking_done = False
        self._nulled = False
        self._estimate_zero = False
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
        # Telecommands
        self._pending: list[_PendingCommand] = []
        self._cmd_accepted = 0
        self._cmd_rejected = 0
        self._cmd_last_opcode = 0
        self._heater_override: bool | None = None
        self._mode_override: Mode | None = None
        self._instrument_override: dict[int, bool] = {}

    # --------------------------------------------------------------- public
    @property
    def finished(self) -> bool:
        """True once the lander is gone (crashed at or before ``time_s``)."""
        return self._crash_t is not None and self._crash_t <= self.time_s

    @property
    def lost_at_s(self) -> float | None:
        """Sim time of the impact, once it has been computed."""
        return self._crash_t

    def utc_at(self, t_s: float) -> datetime:
        """UTC instant of sim time ``t_s``."""
        return self.start_utc + timedelta(seconds=t_s)

    def execute_command(self, t_s: float, name: str, args: Mapping[str, float]) -> None:
        """Accept the telecommand ``name`` with ``args``, effective from sim time
        ``t_s`` on (from the next step when that row is already computed).

        Heater on/off overrides the thermostat, SET_MODE forces a surface mode
        (0 returns to autonomous), INSTRUMENT_START/STOP force one instrument
        (by index) on or off; every accepted command counts in
        ``cmd.accepted`` and sets ``cmd.last_opcode``. SET_BAND,
        RECORDER_DUMP, TIME_CORRELATE and BOARD_REBOOT act outside the sim and
        are only counted. Unknown names and bad arguments count in
        ``cmd.rejected`` and raise :class:`CommandError`.
        """
        try:
            spec = self._commands.get(name)
            if spec is None:
                known = ", ".join(sorted(self._commands)) or "none"
                raise CommandError(f"command {name!r}: unknown (known: {known})")
            if not (isinstance(t_s, int | float) and math.isfinite(t_s)):
                raise CommandError(f"command {name}: time {t_s!r} is not a finite number")
            checked = self._check_args(spec, args)
        except CommandError:
            self._cmd_rejected += 1
            raise
        self._pending.append(_PendingCommand(float(t_s), spec, checked))
        self._pending.sort(key=lambda c: c.t_s)

    def _check_args(self, spec: CommandParams, args: Mapping[str, float]) -> dict[str, float]:
        if not isinstance(args, Mapping):
            raise CommandError(f"command {spec.name}: args must be a mapping of name -> number")
        expected = {a.name: a for a in spec.args}
        extra = sorted(set(args) - set(expected))
        if extra:
            raise CommandError(f"command {spec.name}: unknown argument {extra[0]!r}"
                               f" (takes: {', '.join(expected) or 'none'})")
        out: dict[str, float] = {}
        for arg in spec.args:
            if arg.name not in args:
                raise CommandError(f"command {spec.name}: missing argument {arg.name!r}")
            value = args[arg.name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise CommandError(f"command {spec.name}: {arg.name} must be a number, got {value!r}")
            if not arg.low <= value <= arg.high:
                raise CommandError(f"command {spec.name}: {arg.name} {value} outside [{arg.low:g}, {arg.high:g}]")
            if arg.integer and value != int(value):
                raise CommandError(f"command {spec.name}: {arg.name} must be an integer, got {value}")
            out[arg.name] = float(value)
        if spec.name == "SET_MODE" and int(out.get("mode", 0)) not in _MODE_COMMANDS:
            raise CommandError(f"command SET_MODE: mode {out['mode']:g} cannot be commanded"
                               " (0 autonomous, 2 day ops, 3 night survival, 4 safe)")
        if spec.name.startswith("INSTRUMENT_") and "instrument" in out \
                and int(out["instrument"]) >= len(self.params.instruments):
            raise CommandError(f"command {spec.name}: instrument {out['instrument']:g} does not exist"
                               f" ({len(self.params.instruments)} instruments)")
        return out

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
    def _event(self, kind: EventKind, message: str) -> None:
        self._events.append(Event(self._t, kind, message))

    def _update_faults(self) -> _ActiveFaults:
        """Apply faults whose time has come; return the active kinds (sensor
        dropouts as 'sensor_dropout:lrf' etc.)."""
        t = self._t
        kinds: set[str] = set()
        remaining = 1.0  # several array degradations compound
        for i, fault in enumerate(self.faults):
            if fault.at_s > t:
                break
            if i not in self._applied:
                if not self._fault_ready(fault):
                    continue
                self._applied.add(i)
                self._event(EventKind.FAULT_INJECTED, f"fault injected: {fault.describe()}")
                self._apply_once(fault)
            if fault.active(t):
                self._active.add(i)
                key = fault.kind
                if key == "sensor_dropout":
                    key = f"sensor_dropout:{fault.text('sensor')}"
                elif key == "solar_array_degradation":
                    remaining *= 1.0 - fault.number("fraction")
                kinds.add(key)
            elif i in self._active:
                self._active.discard(i)
                self._event(EventKind.FAULT_CLEARED, f"fault cleared: {fault.describe()}")
        return _ActiveFaults(frozenset(kinds), remaining)

    def _fault_ready(self, fault: Fault) -> bool:
        """A crater-rim fault with ``below_altitude_m`` waits until the lander is that low."""
        if fault.kind != "lrf_altitude_jump":
            return True
        below = fault.number("below_altitude_m")
        return below <= 0.0 or (self._h - self._terrain.height_m(self._x)) <= below

    def _apply_once(self, fault: Fault) -> None:
        if fault.kind == "battery_cell_loss":
            self._capacity_wh *= 1.0 - fault.number("fraction")
            self._energy_wh = min(self._energy_wh, self._capacity_wh)
        elif fault.kind == "lrf_altitude_jump":
            self._terrain.drops.append(
                (self._x, fault.number("jump_m"), fault.number("slope_drop_m"),
                 max(fault.number("slope_length_m"), 1.0))
            )

    def _apply_commands(self) -> None:
        """Telecommands whose time has come take effect at this step."""
        while self._pending and self._pending[0].t_s <= self._t:
            cmd = self._pending.pop(0)
            spec = cmd.spec
            self._cmd_accepted += 1
            self._cmd_last_opcode = spec.opcode
            if spec.name == "HEATER_ON":
                self._heater_override = True
            elif spec.name == "HEATER_OFF":
                self._heater_override = False
            elif spec.name == "SET_MODE":
                self._mode_override = _MODE_COMMANDS[int(cmd.args["mode"])]
                if self._mode_override is None:
                    self._heater_override = None
                    self._instrument_override.clear()
            elif spec.name == "INSTRUMENT_START":
                self._instrument_override[int(cmd.args["instrument"])] = True
            elif spec.name == "INSTRUMENT_STOP":
                self._instrument_override[int(cmd.args["instrument"])] = False
            self._event(EventKind.COMMAND, f"command {spec.name} (opcode 0x{spec.opcode:02X}) executed")

    def _step(self) -> None:
        """Compute the row at the current time and advance the state one step."""
        t = self._t
        self._apply_commands()
        faults = self._update_faults()
        self._step_relays(t)
        out: dict[str, float] = {"time.mission_elapsed_s": t}
        out.update(self._step_environment(t))
        out.update(self._step_mode(out))
        out.update(self._step_heater(out, faults))
        out.update(self._step_power(out, faults))
        out.update(self._step_thermal(out, faults))
        out.update(self._step_gnc(out, faults))
        out.update(self._step_comms(t, out))
        out.update(self._step_payload(t, out))
        out.update(self._step_status(faults))
        self._times.append(t)
        self._rows.append(tuple(out[key] for key in self.state_keys))
        self._integrate(out)
        # Next grid point (the grid only changes at phase changes).
        self._k += 1
        self._t = self._segment_start + self._k * self._dt

    # ----------------------------------------------------- subsystem steps
    def _step_relays(self, t: float) -> None:
        # Relays leave their bays at the scheduled times (APEX / Series 2); a
        # lander carries at most relay_count of them.
        n_relays = min(len(self.scenario.relay_deploy_s), self.params.relay_count)
        while self._relays < n_relays and self.scenario.relay_deploy_s[self._relays] <= t:
            self._relays += 1
            self._event(EventKind.RELAY_DEPLOYED, f"relay satellite {self._relays} deployed")

    def _step_environment(self, t: float) -> dict[str, float]:
        """Sun and Earth from the date, regolith temperature."""
        p = self.params
        local_h, decl, sub_lat, sub_lon = self._calendar.at(t)
        sun_el, sun_az = sun.sun_elevation_azimuth(p.site_latitude_deg, local_h, decl)
        earth_el = sun.earth_elevation_from_sub_earth_deg(
            p.site_latitude_deg, p.site_longitude_deg, sub_lat, sub_lon)
        return {
            "sun.elevation_deg": sun_el, "sun.azimuth_deg": sun_az, "sun.local_time_h": local_h,
            "earth.elevation_deg": earth_el,
            "thermal.surface_c": self._surface_k - thermal.KELVIN,
        }

    def _soc(self) -> float:
        return self._energy_wh / self._capacity_wh if self._capacity_wh > 0 else 0.0

    def _thermal_out_of_limits(self) -> bool:
        p = self.params
        return not p.operating_min_c <= self._deck_c <= p.operating_max_c

    def _step_mode(self, out: Mapping[str, float]) -> dict[str, float]:
        phase = self._phase
        if phase == Phase.CRASHED:
            mode = Mode.DEAD
        elif phase == Phase.CRUISE:
            mode = Mode.CRUISE
        elif phase != Phase.LANDED:
            mode = Mode.DESCENT
        elif self._dead:
            mode = Mode.DEAD
        else:
            soc = self._soc()
            if self._safe and soc > _SAFE_EXIT_SOC:
                self._safe = False
            elif not self._safe and soc < _SAFE_ENTER_SOC:
                self._safe = True
            if self._safe or self._thermal_out_of_limits():
                # Low battery or avionics outside their operating range: shed
                # the operational loads (payloads off, survival load only).
                mode = Mode.SAFE
            elif self._mode_override is not None:
                mode = self._mode_override
            elif out["sun.elevation_deg"] > 0.0:
                mode = Mode.DAY
            else:
                mode = Mode.NIGHT
        if mode != self._mode:
            if self._mode is not None:
                self._event(EventKind.MODE, f"mode {self._mode.label} -> {mode.label}")
            self._mode = mode
        return {"mode.lander": float(mode)}

    def _step_heater(self, out: Mapping[str, float], faults: _ActiveFaults) -> dict[str, float]:
        """Thermostat on the deck; it holds its state without a sensor."""
        p = self.params
        if self._phase == Phase.CRASHED or self._mode == Mode.DEAD:
            self._heater_on = False
        elif faults.has("heater_stuck_on"):
            self._heater_on = True
        elif faults.has("heater_stuck_off"):
            self._heater_on = False
        elif self._heater_override is not None:
            self._heater_on = self._heater_override
        elif not faults.has("sensor_dropout:thermal"):
            self._heater_on = thermal.thermostat(
                self._heater_on, self._deck_c, p.heater_setpoint_c, p.heater_hysteresis_k
            )
        return {"thermal.heater_on": 1.0 if self._heater_on else 0.0,
                "power.heater_w": p.heater_power_w if self._heater_on else 0.0}

    def _battery_floor_wh(self) -> float:
        """Stored energy below which the battery is protected: the deeper of the
        depth-of-discharge limit and the low-voltage cut-off (at rest)."""
        p = self.params
        dod_floor = 1.0 - p.battery_dod_limit
        cutoff_soc = power.soc_at_open_circuit_v(p.battery_nominal_v, p.battery_cutoff_v)
        return max(dod_floor, cutoff_soc) * self._capacity_wh

    def _step_power(self, out: Mapping[str, float], faults: _ActiveFaults) -> dict[str, float]:
        p = self.params
        crashed = self._phase == Phase.CRASHED
        mode = self._mode if self._mode is not None else Mode.DEAD
        base_load = 0.0 if crashed else (
            p.load_cruise_w, p.load_descent_w, p.load_surface_w,
            p.load_night_w, p.load_night_w, p.load_night_w)[mode]
        heater_w = out["power.heater_w"]
        load_w = base_load + heater_w
        solar_w = 0.0 if crashed else power.solar_array_w(
            p.solar_array_peak_w, out["sun.elevation_deg"], p.solar_array_tilt_deg,
            1.0 - faults.solar_remaining, sun_tracking=p.solar_array_sun_tracking)
        rps_w = 0.0 if crashed else p.rps_electrical_w
        net_w = solar_w + rps_w - load_w
        # Li-ion cells must not be charged below their charge limit (plating).
        inhibited = self._battery_c < p.battery_charge_min_c and not crashed
        if inhibited != self._charge_inhibited:
            self._event(EventKind.CHARGE_INHIBITED if inhibited else EventKind.CHARGE_ENABLED,
                        f"battery at {self._battery_c:.1f} degC: charging "
                        + ("inhibited" if inhibited else "enabled"))
            self._charge_inhibited = inhibited
        floor_wh = min(self._battery_floor_wh(), self._energy_wh)
        step = power.battery_step(
            self._energy_wh - floor_wh, self._capacity_wh - floor_wh, net_w, self._dt,
            p.battery_charge_efficiency, p.battery_discharge_efficiency,
            charge_allowed=not inhibited,
        )
        # (usable + floor) can round one ulp past the capacity: a full battery is full.
        self._next_energy_wh = min(step.energy_wh + floor_wh, self._capacity_wh)
        soc = self._soc()
        batt_v = 0.0 if crashed else power.battery_terminal_v(
            p.battery_nominal_v, soc, step.battery_w, self._capacity_wh)
        batt_i = step.battery_w / batt_v if batt_v > 0 else 0.0
        shedding = step.shed_w > 1e-9
        if shedding != self._shedding and not crashed:
            self._event(EventKind.LOAD_SHED if shedding else EventKind.LOAD_RESTORED,
                        "battery at its protection limit: shedding loads" if shedding
                        else "loads restored")
            self._shedding = shedding
        # Bus brown-out: battery at its floor and generation below the survival load.
        if self._phase == Phase.LANDED:
            was_dead = self._dead
            self._dead = shedding and (solar_w + rps_w) < p.load_night_w
            if self._dead and not was_dead:
                self._event(EventKind.BUS_DEAD, "battery at its protection limit, bus unpowered")
        bus_v = 0.0 if (crashed or mode == Mode.DEAD) else p.bus_voltage_v
        supplied = 1.0 - step.shed_w / load_w if load_w > 0 else 0.0
        return {
            "power.solar_w": solar_w, "power.load_w": load_w, "power.rps_electrical_w": rps_w,
            "power.net_w": net_w, "power.battery_soc": soc,
            "power.battery_energy_wh": self._energy_wh, "power.battery_voltage_v": batt_v,
            "power.battery_current_a": batt_i, "power.bus_voltage_v": bus_v,
            "power.shed_w": step.shed_w, "power.dumped_w": step.dumped_w,
            "power.battery_w": step.battery_w, "power.battery_capacity_wh": self._capacity_wh,
            "_dissipated_w": load_w * supplied,
        }

    def _check_limits(self, unit: str, temp_c: float, op: tuple[float, float],
                      survival: tuple[float, float]) -> None:
        """Events when a unit leaves (or returns to) its operating or survival range."""
        level = 2 if not survival[0] <= temp_c <= survival[1] else (
            1 if not op[0] <= temp_c <= op[1] else 0)
        previous = self._limit_state[unit]
        if level == previous:
            return
        self._limit_state[unit] = level
        if level == 2:
            self._event(EventKind.SURVIVAL_LIMIT,
                        f"{unit} at {temp_c:.1f} degC: outside survival range {survival[0]:g}..{survival[1]:g}")
        elif level == 1 and previous == 0:
            self._event(EventKind.TEMPERATURE_LIMIT,
                        f"{unit} at {temp_c:.1f} degC: outside operating range {op[0]:g}..{op[1]:g}")
        elif level == 0:
            self._event(EventKind.TEMPERATURE_NOMINAL, f"{unit} back in its operating range")

    def _step_thermal(self, out: Mapping[str, float], faults: _ActiveFaults) -> dict[str, float]:
        p = self.params
        surface_c = out["thermal.surface_c"]
        if self._phase == Phase.CRUISE:
            body_sink = rad_sink = thermal.CRUISE_SINK_C
        else:
            body_sink = thermal.sink_c(surface_c, p.body_ground_view_factor)
            rad_sink = thermal.sink_c(surface_c, p.radiator_ground_view_factor)
        # The profile's conductance is the closed-MLI leak: MLI is already in it.
        leak = p.conductance_w_per_k
        louver = thermal.louver_fraction(self._deck_c, p.louver_open_c, p.louver_full_c)
        g_rad = p.radiator_conductance_w_per_k * louver
        radiator_c = (
            (thermal.RADIATOR_PLATE_W_PER_K * self._deck_c + max(g_rad, 0.05) * rad_sink)
            / (thermal.RADIATOR_PLATE_W_PER_K + max(g_rad, 0.05))
        )
        rps_heat = p.rps_thermal_w * p.rps_heat_coupling
        battery_w = out["power.battery_w"]
        battery_loss_w = abs(battery_w) * (
            (1.0 - p.battery_charge_efficiency) if battery_w > 0
            else (1.0 / p.battery_discharge_efficiency - 1.0)
        )
        q_ab = thermal.BATTERY_COUPLING_W_PER_K * (self._deck_c - self._battery_c)
        q_ap = thermal.PROPULSION_COUPLING_W_PER_K * (self._deck_c - self._prop_c)
        self._q_deck = (
            out["_dissipated_w"] + rps_heat - leak * (self._deck_c - body_sink)
            - g_rad * (self._deck_c - rad_sink) - q_ab - q_ap
        )
        self._q_batt = battery_loss_w + q_ab - leak * thermal.BATTERY_LEAK_FRACTION * (
            self._battery_c - body_sink)
        self._q_prop = q_ap - leak * thermal.PROPULSION_LEAK_FRACTION * (self._prop_c - body_sink)
        if self._phase != Phase.CRASHED:
            self._check_limits("avionics", self._deck_c, (p.operating_min_c, p.operating_max_c),
                               (p.survival_min_c, p.survival_max_c))
            self._check_limits("battery", self._battery_c,
                               (p.battery_operating_min_c, p.battery_operating_max_c),
                               (p.battery_survival_min_c, p.battery_survival_max_c))
        return {
            "thermal.avionics_c": self._deck_c, "thermal.battery_c": self._battery_c,
            "thermal.propulsion_c": self._prop_c, "thermal.radiator_c": radiator_c,
        }

    def _step_gnc(self, out: Mapping[str, float], faults: _ActiveFaults) -> dict[str, float]:
        """Guidance, navigation and the descent dynamics; outputs are the state at
        t, the integration to t + dt follows."""
        p = self.params
        noise = self._noise
        dt = self._dt
        phase = self._phase
        terrain_z = self._terrain.height_m(self._x)
        true_alt = self._h - terrain_z
        vx_out, vz_out, x_out, prop_out = self._vx, self._vz, self._x, self._propellant
        lrf_range = 0.0
        lrf_valid = False
        thrust = 0.0
        phase_out = phase
        roll, pitch, yaw = self._attitude
        if phase in gnc.FLYING_PHASES:
            if self._est_h is None:
                self._est_h = true_alt + p.initial_altitude_error_m * noise()
                self._imu_bias = 0.02 * noise()
            if not faults.has("sensor_dropout:imu"):
                # IMU-propagated vertical velocity with a small bias; frozen in a dropout.
                self._est_vz = self._vz + self._imu_bias
            est_h = self._est_h
            if not faults.has("sensor_dropout:lrf") and 0.0 < true_alt <= p.lrf_max_range_m:
                lrf_range = true_alt * (1.0 + p.lrf_noise_fraction * noise()) + noise()
                lrf_valid = True
            mass = p.dry_mass_kg + p.payload_mass_kg + p.rover_mass_kg + self._propellant
            max_thrust = p.main_engine_thrust_n if self._propellant > 0 else 0.0
            # A flight computer in the loop (a GNC board) estimates and guides instead
            # of the built-in law; None from it means "fly the built-in one this step".
            board = None if self.gnc_computer is None else self.gnc_computer({
                "t_s": self._t, "dt_s": dt, "roll_deg": roll, "pitch_deg": pitch,
                "yaw_deg": yaw, "lrf_range_m": lrf_range, "lrf_valid": float(lrf_valid),
                "imu_vz_mps": self._est_vz, "vx_mps": self._vx, "nav_altitude_m": est_h,
                "propellant_kg": self._propellant, "mass_kg": mass,
                "max_thrust_n": p.main_engine_thrust_n, "terminal_mps": p.terminal_descent_mps,
            })
            if board is not None:
                est_h = board[2]  # the built-in (backup) estimator follows the board's
            elif lrf_valid and not self._lrf_failed:
                est_h = self._lrf_update(lrf_range, est_h)
            cmd = gnc.guidance(est_h, self._est_vz, self._vx, mass, max_thrust,
                               p.terminal_descent_mps)
            if board is not None:
                # The board commands a throttle and a thrust-axis target (deg from vertical).
                throttle, target = min(1.0, max(0.0, board[0])), math.radians(board[1])
                accel_cmd = throttle * max_thrust / mass
                cmd = replace(cmd, ax_mps2=accel_cmd * math.sin(target),
                              az_mps2=accel_cmd * math.cos(target), thrust_n=throttle * max_thrust)
            thrust = cmd.thrust_n
            if cmd.phase != phase:
                self._set_phase(cmd.phase)
            phase_out = cmd.phase
            self._descent_milestones(est_h)
            # The thrust axis slews at a limited rate: the commanded direction is
            # followed, not jumped to (no -80 -> 0 deg step at the handover); the
            # engine is throttled to the command's component along the actual axis.
            a_cmd = math.hypot(cmd.ax_mps2, cmd.az_mps2)
            if self._thrust_angle is None:
                self._thrust_angle = math.atan2(cmd.ax_mps2, cmd.az_mps2)
            if a_cmd > 1e-6:
                angle_cmd = math.atan2(cmd.ax_mps2, cmd.az_mps2)
                max_turn = math.radians(p.attitude_slew_deg_per_s) * dt
                self._thrust_angle += max(-max_turn, min(max_turn, angle_cmd - self._thrust_angle))
                along = math.cos(angle_cmd - self._thrust_angle)
                thrust = max(0.0, min(thrust, mass * a_cmd * along))
            roll = 0.2 * noise()
            pitch = math.degrees(self._thrust_angle) + 0.2 * noise()
            yaw = 90.0 + 0.2 * noise()
            self._attitude = (roll, pitch, yaw)
            est_out = max(0.0, est_h)
            # Integrate (semi-implicit Euler) along the actual thrust axis.
            g_eff = gnc.LUNAR_GRAVITY_MPS2 - self._vx * self._vx / gnc.LUNAR_RADIUS_M
            accel = thrust / mass
            self._vx += accel * math.sin(self._thrust_angle) * dt
            self._vz += (accel * math.cos(self._thrust_angle) - g_eff) * dt
            burn = thrust / (p.main_engine_isp_s * gnc.G0_MPS2) * dt
            if burn >= self._propellant > 0:
                self._event(EventKind.PROPELLANT_DEPLETED, "propellant depleted, engine off")
            self._propellant = max(0.0, self._propellant - burn)
            self._x += self._vx * dt
            self._h += self._vz * dt
            self._est_h = est_h + self._est_vz * dt
            new_alt = self._h - self._terrain.height_m(self._x)
            if new_alt <= 0.0:
                self._contact(new_alt)
        elif phase == Phase.CRUISE:
            est_out = true_alt
            self._x += self._vx * dt
        else:
            est_out = 0.0 if phase == Phase.CRASHED else max(0.0, true_alt)
        return {
            "gnc.altitude_m": max(0.0, true_alt), "gnc.altitude_estimate_m": est_out,
            "gnc.vertical_velocity_mps": vz_out, "gnc.horizontal_velocity_mps": abs(vx_out),
            "gnc.lrf_range_m": lrf_range, "gnc.lrf_valid": 1.0 if lrf_valid else 0.0,
            "gnc.lrf_rejected": 1.0 if self._lrf_failed else 0.0,
            "gnc.terrain_height_m": terrain_z, "gnc.roll_deg": roll, "gnc.pitch_deg": pitch,
            "gnc.yaw_deg": yaw, "gnc.propellant_kg": prop_out, "gnc.thrust_n": thrust,
            "gnc.phase": float(phase_out), "gnc.downrange_m": x_out,
        }

    def _lrf_update(self, lrf_range: float, est_h: float) -> float:
        """Innovation gate on one LRF reading; returns the corrected estimate."""
        p = self.params
        if gnc.lrf_gate_ok(lrf_range, est_h, p.lrf_gate_m):
            self._lrf_innovations.clear()
            return est_h + gnc.ESTIMATOR_GAIN * (lrf_range - est_h)
        self._lrf_innovations.append(lrf_range - est_h)
        if p.lrf_terrain_aware_gate and gnc.terrain_step(self._lrf_innovations):
            offset = sum(self._lrf_innovations[-gnc.TERRAIN_STEP_READINGS:]) / gnc.TERRAIN_STEP_READINGS
            self._event(EventKind.LRF_REACQUIRED,
                        f"LRF re-acquired: consistent {offset:+.0f} m step in the terrain")
            self._lrf_innovations.clear()
            return lrf_range
        if len(self._lrf_innovations) >= gnc.REJECTIONS_TO_FAIL:
            self._lrf_failed = True
            self._event(EventKind.LRF_REJECTED,
                        f"LRF declared failed: reading {lrf_range:.0f} m vs estimate {est_h:.0f} m")
        return est_h

    def _descent_milestones(self, est_h: float) -> None:
        if not self._braking_done and abs(self._vx) <= gnc.BRAKING_END_MPS:
            self._braking_done = True
            self._event(EventKind.BRAKING_COMPLETE, f"braking complete at {self._h - self._terrain.height_m(self._x):.0f} m")
        if not self._nulled and abs(self._vx) <= _HORIZONTAL_NULLED_MPS:
            self._nulled = True
            self._event(EventKind.HORIZONTAL_NULLED, "horizontal velocity nulled, descending upright")
        if not self._estimate_zero and est_h <= 0.0:
            self._estimate_zero = True
            true_alt = self._h - self._terrain.height_m(self._x)
            self._event(EventKind.ESTIMATE_ZERO,
                        f"altitude estimate reached 0 m at {true_alt:.0f} m true altitude")

    def set_link_oracle(self, oracle: Callable[[float], tuple[bool, float, bool]]) -> None:
        """Use the link model for the comms state (see :attr:`link_oracle`), from
        the row at t = 0 on (that row was made when the simulation was built)."""
        self.link_oracle = oracle
        for i, t in enumerate(self._times):
            row = dict(zip(self.state_keys, self._rows[i], strict=True))
            row.update(self._step_comms(t, row))
            self._rows[i] = tuple(row[key] for key in self.state_keys)

    def _step_comms(self, t: float, out: Mapping[str, float]) -> dict[str, float]:
        p = self.params
        if self.link_oracle is not None and self._phase != Phase.CRUISE:
            link_up, link_el, relay_visible = self.link_oracle(t)
        else:
            relay_el = comms.relay_elevation_deg(
                t, self._relays, p.relay_count, p.relay_period_s, p.relay_visible_fraction)
            link_up, link_el, relay_visible = comms.link_state(
                out["earth.elevation_deg"], relay_el, p.min_link_elevation_deg,
                self._phase == Phase.CRUISE)
        link_up = link_up and self._phase != Phase.CRASHED and self._mode != Mode.DEAD
        return {
            "comms.link_up": 1.0 if link_up else 0.0, "comms.elevation_deg": link_el,
            "comms.relay_visible": 1.0 if relay_visible else 0.0,
            "comms.tx_power_w": p.tx_power_w if link_up else 0.0,
            "relays.deployed": float(self._relays),
        }

    def _step_payload(self, t: float, out: Mapping[str, float]) -> dict[str, float]:
        p = self.params
        operating = self._mode == Mode.DAY
        powered = self._mode in (Mode.DAY, Mode.NIGHT)
        result: dict[str, float] = {}
        total_rate = 0.0
        for idx, inst in enumerate(p.instruments):
            forced = self._instrument_override.get(idx)
            on = (forced and powered) if forced is not None else \
                payload.instrument_on(t, idx, inst.duty, operating)
            rate = inst.data_rate_bps if on else 0.0
            total_rate += rate
            on_key, rate_key = instrument_state_keys(inst.id)
            result[on_key] = 1.0 if on else 0.0
            result[rate_key] = rate
        if p.has_rover and self._phase == Phase.LANDED and not self._rover_deployed \
                and self._touchdown_t is not None and operating \
                and t >= self._touchdown_t + p.rover_deploy_delay_s:
            self._rover_deployed = True
            self._event(EventKind.ROVER_DEPLOYED, "rover deployed to the surface")
        self._total_rate = total_rate
        self._operating = operating
        result.update({
            "payload.data_volume_bytes": self._data_bytes, "payload.data_rate_bps": total_rate,
            "payload.drill_depth_m": self._drill_m,
            "rover.deployed": 1.0 if self._rover_deployed else 0.0,
            "rover.distance_m": self._rover_m,
            "rover.battery_soc": self._rover_soc if p.has_rover else 0.0,
        })
        return result

    def _step_status(self, faults: _ActiveFaults) -> dict[str, float]:
        return {
            "fault.count": float(len(self._active)),
            "sensor.lrf_ok": 0.0 if faults.has("sensor_dropout:lrf") else 1.0,
            "sensor.imu_ok": 0.0 if faults.has("sensor_dropout:imu") else 1.0,
            "sensor.thermal_ok": 0.0 if faults.has("sensor_dropout:thermal") else 1.0,
            "cmd.accepted": float(self._cmd_accepted),
            "cmd.rejected": float(self._cmd_rejected),
            "cmd.last_opcode": float(self._cmd_last_opcode),
        }

    def _integrate(self, out: Mapping[str, float]) -> None:
        """Advance the slow states to t + dt."""
        p = self.params
        dt = self._dt
        self._energy_wh = self._next_energy_wh
        self._deck_c += self._q_deck * dt / p.thermal_capacity_j_per_k
        self._battery_c += self._q_batt * dt / thermal.battery_capacity_j_per_k(p.battery_capacity_wh)
        self._prop_c += self._q_prop * dt / thermal.PROPULSION_CAPACITY_J_PER_K
        self._surface_k = sun.regolith_step_k(self._surface_k, out["sun.elevation_deg"], dt,
                                              self._floor_k)
        self._data_bytes += self._total_rate / 8.0 * dt
        drilling = self._operating and p.has_drill and self._phase == Phase.LANDED
        self._drill_m = payload.drill_step(self._drill_m, p.drill_rate_m_per_h, dt, drilling,
                                           p.drill_max_depth_m)
        if self._rover_deployed:
            self._rover_soc, self._rover_m = rover.rover_step(
                self._rover_soc, self._rover_m, out["sun.elevation_deg"] > 0.0,
                p.rover_speed_mps, dt, p.rover_battery_wh)

    def _set_phase(self, phase: Phase) -> None:
        self._event(EventKind.PHASE, f"descent phase {self._phase.label} -> {phase.label}")
        self._phase = phase

    def _contact(self, altitude_m: float) -> None:
        """Surface contact during the step: land or crash; switch to the surface grid."""
        p = self.params
        t_contact = self._t + self._dt
        speed = math.hypot(self._vx, self._vz)
        self._h -= altitude_m  # on the ground
        if -self._vz <= p.touchdown_max_vertical_mps and abs(self._vx) <= 2.0:
            new_phase = Phase.LANDED
            kind = EventKind.TOUCHDOWN
            message = f"touchdown at {-self._vz:.1f} m/s vertical"
            rng = np.random.default_rng([self.seed, 2])
            slope = rng.normal(0.0, 2.0, 2)
            self._attitude = (float(slope[0]), float(slope[1]), self._attitude[2])
        else:
            new_phase = Phase.CRASHED
            kind = EventKind.CRASH
            message = f"impact at {speed:.0f} m/s: lander lost"
            self._attitude = (37.0, -64.0, self._attitude[2])
        self._events.append(Event(t_contact, kind, message))
        self._events.append(Event(t_contact, EventKind.PHASE,
                                  f"descent phase {self._phase.label} -> {new_phase.label}"))
        self._phase = new_phase
        self._touchdown_t = t_contact
        self._impact_speed = speed
        if new_phase == Phase.CRASHED:
            self._crash_t = t_contact
        self._vx = self._vz = 0.0
        self._est_h = 0.0
        # New grid segment: contact time, then surface steps.
        self._segment_start = t_contact
        self._k = -1  # _step adds one; the next row is at t_contact
        self._dt = p.surface_step_s

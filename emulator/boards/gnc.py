"""A GNC board flying the descent: the simulation's ``gnc_computer``.

Each powered-descent step the sim hands over its sensor set; this sends it to
the board as GNC_SENSORS and waits (bounded) for GNC_ACTUATORS.  A missed
deadline is counted; the sim then holds the board's last command for up to
``hold_steps`` steps, and after that falls back to the built-in guidance
until the board answers again.  Each transition is a :class:`BoardEvent`.

While the board misses its deadlines it is an active fault: :attr:`faulted`
and :attr:`fault_changes` (sim time, faulted) let the rig count it in the
housekeeping's fault count (``fault.count``) and put the events in the run's
event list.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from lunar_hil.firmware_stubs import protocol as bp

from .link import BoardLink

__all__ = ["BoardEvent", "BoardEventKind", "GncBoardController"]

#: Steps (0.1 s each) the last command is held before the built-in law takes over.
HOLD_STEPS = 5
#: In fallback the board is probed once every this many steps (one attempt), so a
#: dead board costs one timeout per second of flight, not one per step.
PROBE_EVERY = 10


class BoardEventKind(Enum):
    TIMEOUT = "board_timeout"
    HOLD = "board_hold_last_command"
    FALLBACK = "board_fallback"
    RECOVERED = "board_recovered"


@dataclass(frozen=True)
class BoardEvent:
    t_s: float
    board: str
    kind: BoardEventKind
    message: str


class GncBoardController:
    """Callable for ``LanderSimulation.gnc_computer``."""

    def __init__(self, link: BoardLink, *, hold_steps: int = HOLD_STEPS) -> None:
        self.link = link
        self.hold_steps = hold_steps
        self.last: tuple[float, float, float] | None = None
        self.missed = 0
        self.skipped = 0
        self.fallback = False
        self.events: list[BoardEvent] = []
        self._prev_attitude: tuple[float, float, float, float] | None = None
        self.answers: list[bp.GncActuators] = []
        self.faulted = False
        #: (sim time, faulted) each time the board stops or starts answering;
        #: the rig drains it every block.
        self.fault_changes: list[tuple[float, bool]] = []
        #: Events not yet handed to the run (drained by the rig).
        self.pending_events: list[BoardEvent] = []

    def _event(self, t_s: float, kind: BoardEventKind, message: str) -> None:
        event = BoardEvent(t_s, self.link.kind, kind, message)
        self.events.append(event)
        del self.events[:-200]
        self.pending_events.append(event)
        del self.pending_events[:-1000]

    def __call__(self, s: dict[str, float]) -> tuple[float, float, float] | None:
        t = float(s["t_s"])
        roll, pitch, yaw = s["roll_deg"], s["pitch_deg"], s["yaw_deg"]
        rates = (0.0, 0.0, 0.0)
        if self._prev_attitude is not None and t > self._prev_attitude[0]:
            t0, r0, p0, y0 = self._prev_attitude
            rates = ((roll - r0) / (t - t0), (pitch - p0) / (t - t0), (yaw - y0) / (t - t0))
        self._prev_attitude = (t, roll, pitch, yaw)
        if self.fallback:
            self.skipped += 1
            if self.skipped % PROBE_EVERY:
                return None
        sensors = bp.GncSensors(
            t, roll, pitch, yaw, *rates, s["lrf_range_m"], int(bool(s["lrf_valid"])),
            s["imu_vz_mps"], s["vx_mps"], s["nav_altitude_m"], s["propellant_kg"],
            s["mass_kg"], s["max_thrust_n"], s["dt_s"], s["terminal_mps"],
        )
        answer = self.link.request(sensors, bp.MsgType.GNC_ACTUATORS,
                                   matches=lambda a: abs(a.t_s - t) < 1e-9,
                                   attempts=1 if self.fallback else None)
        if answer is not None:
            if self.fallback or self.missed:
                self._event(t, BoardEventKind.RECOVERED,
                            f"{self.link.kind} board answering again after {self.missed} misses")
            self.missed = 0
            self.fallback = False
            if self.faulted:
                self.faulted = False
                self.fault_changes.append((t, False))
            self.answers.append(answer)
            del self.answers[:-10]
            self.last = (answer.throttle, answer.pitch_target_deg, answer.est_altitude_m)
            return self.last
        self.missed += 1
        if not self.faulted:
            self.faulted = True
            self.fault_changes.append((t, True))
        self._event(t, BoardEventKind.TIMEOUT,
                    f"{self.link.kind} board missed its deadline ({self.link.timeout_s * 1000:.0f} ms"
                    f" x {1 + self.link.retries})")
        if self.last is not None and self.missed <= self.hold_steps:
            if self.missed == 1:
                self._event(t, BoardEventKind.HOLD, "holding the board's last command")
            return self.last
        if not self.fallback:
            self.fallback = True
            self._event(t, BoardEventKind.FALLBACK,
                        f"{self.link.kind} board silent: built-in guidance takes over")
        return None

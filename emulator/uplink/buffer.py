"""The on-board command buffer: FARM-1's Higher Procedures, in sim time.

FARM-1 hands every accepted FDU (a frame's data field, here one telecommand
packet) to a buffer of the Higher Procedures (232.1 §6.2.2 'Accept'); the
command processor takes them from it, one at a time, and executes them. The
buffer's room is what FARM-1's flow control is about: an in-sequence Type-AD
frame that finds no room is event E2 (FARM goes to Wait, the CLCW Wait flag is
1), and the processor making room is the Buffer Release Signal, event E10
(232.1 §3.3.2 note 2: "when sufficient buffer space becomes available for at
least one more maximum-size Frame").

Figures (assumed; the profiles and the seeds give none):

* :data:`DEFAULT_DEPTH_FRAMES` = 8 FDUs of Type-AD. Eight is the FARM's
  positive window PW for the default sliding window W = 16 (232.1 §6.1.8), so
  the buffer holds what one conforming FOP-1 (at most PW frames outstanding)
  can have in flight; it fills only under a burst wider than that (a ground
  system with a wider window, or several senders).
* :data:`DEFAULT_COMMANDS_PER_S` = 10: a command-processing cycle of 10 Hz, a
  common rate for on-board software's telecommand task. A full buffer drains in
  0.8 s, well inside the Earth-Moon round trip (about 2.6 s), so the Wait flag
  of a burst is normally gone before the ground's retransmissions arrive.

The processor is free once each 1/rate s: a command is taken (and executed) at
its arrival when the processor is idle, else one period after the previous one.
Every time is sim time, given by the caller, so the result is the same at any
speed.

Type-BD FDUs are not flow-controlled (232.1 table 6-1: E6 is accepted in every
state, whatever the buffer): they never count against the depth and never raise
Wait. They wait in a slot of their own, which the processor serves before the
Type-AD queue (the expedited service); a Type-BD FDU that arrives while the
previous one is still unread erases it, as 232.1 §6.2.2 allows ("a Type-BD FDU
... placed in a buffer erasing another unread FDU"), counted as
``bd_aborted``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Final

from ..errors import LocalProtocolError

__all__ = ["DEFAULT_COMMANDS_PER_S", "DEFAULT_DEPTH_FRAMES", "BufferedFdu", "CommandBuffer"]

#: Type-AD FDUs the buffer holds (assumed, see the module docstring).
DEFAULT_DEPTH_FRAMES: Final = 8
#: Commands the processor executes per sim second (assumed, see the module docstring).
DEFAULT_COMMANDS_PER_S: Final = 10.0
#: Slack when comparing sim times (a take due "at" t is due by t).
_EPS: Final = 1e-9


@dataclass(frozen=True)
class BufferedFdu:
    """One FDU waiting for the processor: when it arrived, its data, its service."""

    t_s: float
    data: bytes
    bypass: bool = False


class CommandBuffer:
    """A bounded FIFO of Type-AD FDUs, a Type-BD slot, and the processor's clock."""

    def __init__(self, depth: int = DEFAULT_DEPTH_FRAMES,
                 commands_per_s: float = DEFAULT_COMMANDS_PER_S) -> None:
        if depth < 1:
            raise LocalProtocolError(f"command buffer depth must be at least 1, got {depth}")
        if not (math.isfinite(commands_per_s) and commands_per_s > 0):
            raise LocalProtocolError(f"commands per second must be > 0, got {commands_per_s}")
        self.depth = depth
        self.period_s = 1.0 / commands_per_s
        self._ad: deque[BufferedFdu] = deque()
        self._bd: BufferedFdu | None = None
        # Take times of one busy run are start + n * period (no running sum, so
        # they are the times a reader computes by hand).
        self._run_start = -math.inf
        self._run_n = 0
        self.counters: dict[str, int] = {"bd_aborted": 0, "buffer_peak": 0}

    def __len__(self) -> int:
        """Type-AD FDUs waiting (the Type-BD slot is not part of the depth)."""
        return len(self._ad)

    @property
    def available(self) -> bool:
        """Room for one more Type-AD FDU (FARM-1's 'buffer available')."""
        return len(self._ad) < self.depth

    @property
    def free_from(self) -> float:
        """Sim time from which the processor can take the next FDU (on a 1 ns
        grid, so that 1.3 s + one 0.1 s period is 1.4 s, as a reader writes it)."""
        if self._run_n == 0:
            return self._run_start
        return round(self._run_start + self._run_n * self.period_s, 9)

    def put(self, data: bytes, t_s: float, *, bypass: bool = False) -> None:
        """An FDU FARM-1 accepted at sim time ``t_s``."""
        fdu = BufferedFdu(t_s, data, bypass)
        if bypass:
            if self._bd is not None:
                self.counters["bd_aborted"] += 1
            self._bd = fdu
            return
        if not self.available:
            raise LocalProtocolError("command buffer full: FARM-1 should have refused the frame")
        self._ad.append(fdu)
        self.counters["buffer_peak"] = max(self.counters["buffer_peak"], len(self._ad))

    def next_take(self) -> float | None:
        """Sim time of the processor's next take, or None with nothing waiting."""
        head = self._bd if self._bd is not None else (self._ad[0] if self._ad else None)
        if head is None:
            return None
        return max(head.t_s, self.free_from)

    def take(self, t_s: float) -> BufferedFdu | None:
        """The FDU the processor takes by sim time ``t_s`` (Type-BD first), or None.

        Returns it with ``t_s`` replaced by the time of the take (when it executes).
        """
        due = self.next_take()
        if due is None or due > t_s + _EPS:
            return None
        if due > self.free_from + _EPS:  # the processor was idle: a new busy run
            self._run_start, self._run_n = due, 0
        self._run_n += 1
        if self._bd is not None:
            fdu, self._bd = self._bd, None
        else:
            fdu = self._ad.popleft()
        return BufferedFdu(due, fdu.data, fdu.bypass)

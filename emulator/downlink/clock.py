"""The emulator clock: real time, xN, or as fast as the sinks take (max).

Everything the emulator *sends* is a function of simulation time only, never
of wall time, so a run is byte-for-byte reproducible at any speed; the clock
only decides *when* the bytes leave.
"""

from __future__ import annotations

import asyncio
import time

from ..errors import ConfigError

#: Slowest accepted speed factor: 1 sim second per 1000 wall seconds. Below it
#: a run would sleep for geological times between steps.
MIN_SPEED = 1e-3


def parse_speed(text: str | float | int) -> float | None:
    """``"1"``, ``"10"``, ``"0.5"`` -> factor; ``"max"`` -> None."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        t = str(text).strip().lower()
        if t == "max":
            return None
        t = t.removeprefix("x").removesuffix("x")
        try:
            value = float(t)
        except ValueError:
            raise ConfigError(f"--speed {text!r}: expected 1, N (a factor) or max") from None
    if not MIN_SPEED <= value < float("inf"):
        raise ConfigError(
            f"--speed {text!r}: must be a factor from {MIN_SPEED:g} (finite) or max"
        )
    return value


class SimClock:
    """Maps simulation seconds to wall-clock deadlines."""

    def __init__(self, speed: float | None) -> None:
        self.speed = speed
        self._wall0 = time.monotonic()

    def restart(self) -> None:
        self._wall0 = time.monotonic()

    @property
    def wall_elapsed(self) -> float:
        return time.monotonic() - self._wall0

    def lag_s(self, sim_t: float) -> float:
        """How far behind its schedule the emulator runs (0 at max speed)."""
        if self.speed is None:
            return 0.0
        return max(0.0, self.wall_elapsed - sim_t / self.speed)

    async def wait_until(self, sim_t: float) -> None:
        """Sleep until the wall time for ``sim_t``; at max speed only yield."""
        if self.speed is None:
            await asyncio.sleep(0)
            return
        delay = sim_t / self.speed - self.wall_elapsed
        await asyncio.sleep(max(0.0, delay))

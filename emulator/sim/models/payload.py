"""Science payload: instruments run at their data rates during surface day
operations, each with a duty cycle over the hour (staggered so that they do
not all start together); the LUPEX drill (seed 002: to 1.5 m) advances at a
fixed rate during day operations."""

from __future__ import annotations

DRILL_MAX_DEPTH_M = 1.5
_STAGGER = 0.137  # fraction of an hour between instrument start times


def instrument_on(t_s: float, index: int, duty: float, operating: bool) -> bool:
    """Whether instrument ``index`` with this duty cycle is on at ``t_s``."""
    if not operating or duty <= 0.0:
        return False
    return ((t_s / 3600.0 + index * _STAGGER) % 1.0) < duty


def drill_step(depth_m: float, rate_m_per_h: float, dt_s: float, operating: bool,
               max_depth_m: float = DRILL_MAX_DEPTH_M) -> float:
    """Advance the drill depth by one step, down to ``max_depth_m``."""
    if not operating:
        return depth_m
    return min(max_depth_m, depth_m + rate_m_per_h * dt_s / 3600.0)

"""Communication path: direct to Earth when the Earth is high enough above the
site horizon, otherwise through a deployed relay when one is in view.

Relays (seed 000: "Alpine" and "Lupine", high polar orbits, >70 % visibility for
south-pole missions) are modelled by their visibility duty cycle: relay k sees
the site during the first ``visible_fraction`` of each orbit period, offset by
k / count of a period. The relay path elevation rises and sets as a half sine.
"""

from __future__ import annotations

import math


def relay_elevation_deg(
    t_s: float, deployed: int, count: int, period_s: float, visible_fraction: float
) -> float:
    """Elevation of the best visible relay (degrees); -90 when none is in view."""
    best = -90.0
    for k in range(deployed):
        frac = (t_s / period_s + k / max(count, 1)) % 1.0
        if frac < visible_fraction:
            best = max(best, 10.0 + 60.0 * math.sin(math.pi * frac / visible_fraction))
    return best


def link_state(
    earth_elevation_deg: float, relay_el_deg: float, min_elevation_deg: float, in_orbit: bool
) -> tuple[bool, float, bool]:
    """(link_up, elevation of the path in use, relay_visible). In lunar orbit the
    Earth is taken as always visible (occultations behind the Moon are ignored)."""
    relay_visible = relay_el_deg >= min_elevation_deg
    if in_orbit:
        return True, 90.0, relay_visible
    if earth_elevation_deg >= min_elevation_deg:
        return True, earth_elevation_deg, relay_visible
    if relay_visible:
        return True, relay_el_deg, True
    return False, max(earth_elevation_deg, relay_el_deg), False

"""Labels of the enumerated telemetry values, keyed by the sim state key a channel samples.

The numbers and names are the sim's own enums (``gnc.phase`` is a
:class:`~lunar_hil.emulator.sim.models.gnc.Phase`, ``mode.lander`` a
:class:`~lunar_hil.emulator.sim.simulation.Mode`); the labels are what XTCE,
COSMOS and Yamcs show. Flags (0/1 keys that hold their value) get
FALSE/TRUE.
"""

from __future__ import annotations

from typing import Final

from ..sim.models.gnc import Phase
from ..sim.simulation import Mode
from ..state_keys import DISCRETE_STATE_KEYS

#: Discrete keys that are counters or codes, not flags: no labels.
_NOT_FLAGS: Final = frozenset({"fault.count", "cmd.accepted", "cmd.rejected", "cmd.last_opcode"})


_NAMED: Final[dict[str, dict[int, str]]] = {
    "gnc.phase": {int(p): p.name for p in Phase},
    "mode.lander": {int(m): m.name for m in Mode},
}


def enumeration_of(source: str) -> dict[int, str] | None:
    """``{raw value: label}`` for a channel sampling ``source``, or None if it is a plain number."""
    if source in _NAMED:
        return dict(_NAMED[source])
    is_flag = (source in DISCRETE_STATE_KEYS and source not in _NOT_FLAGS
               and source not in _NAMED) or source.endswith(".on")
    if is_flag:
        return {0: "FALSE", 1: "TRUE"}
    return None

"""Labels of the enumerated telemetry values, keyed by the sim state key a channel samples.

The numbers are the sim's (``gnc.phase`` is one of the GNC model's ``PHASE_*``
constants, ``mode.lander`` indexes the simulation's mode names); the labels are
what XTCE, COSMOS and Yamcs show. Flags (0/1 keys that hold their value) get
FALSE/TRUE.
"""

from __future__ import annotations

from typing import Final

from ..sim.simulation import _MODE_NAMES, _PHASE_NAMES
from ..state_keys import DISCRETE_STATE_KEYS

#: Discrete keys that are counters or codes, not flags: no labels.
_NOT_FLAGS: Final = frozenset({"fault.count", "cmd.accepted", "cmd.rejected", "cmd.last_opcode"})


def _label(name: str) -> str:
    return name.upper().replace(" ", "_")


_NAMED: Final[dict[str, tuple[str, ...]]] = {
    "gnc.phase": tuple(_label(n) for n in _PHASE_NAMES),
    "mode.lander": tuple(_label(n) for n in _MODE_NAMES),
}


def enumeration_of(source: str) -> dict[int, str] | None:
    """``{raw value: label}`` for a channel sampling ``source``, or None if it is a plain number."""
    if source in _NAMED:
        return dict(enumerate(_NAMED[source]))
    is_flag = (source in DISCRETE_STATE_KEYS and source not in _NOT_FLAGS
               and source not in _NAMED) or source.endswith(".on")
    if is_flag:
        return {0: "FALSE", 1: "TRUE"}
    return None

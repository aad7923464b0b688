"""The profile's telecommands as plain definitions for the dictionary writers.

A profile lists its commands (``commands:``: name, opcode, args). Each is sent
as a CCSDS 133.0 telecommand packet (type 1, no secondary header) on
:data:`~lunar_hil.emulator.uplink.commands.TC_COMMAND_APID`: the 16-bit opcode,
then the arguments big-endian in order (:mod:`lunar_hil.emulator.uplink.commands`
encodes them). Profiles without a
command list give no commands (the dictionaries then hold telemetry only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from ..uplink.commands import TC_COMMAND_APID

#: Bits of the opcode at the start of the packet data field.
OPCODE_BITS: Final = 16


@dataclass(frozen=True)
class ArgumentDef:
    name: str
    type: str
    unit: str = ""
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class CommandDef:
    name: str
    apid: int
    opcode: int
    description: str
    arguments: tuple[ArgumentDef, ...] = ()


def command_definitions(profile: Any) -> list[CommandDef]:
    """The profile's ``commands`` list (empty when the profile has none)."""
    out: list[CommandDef] = []
    for c in getattr(profile, "commands", None) or []:
        args = []
        for a in getattr(c, "args", None) or []:
            rng = getattr(a, "range", None)
            args.append(ArgumentDef(
                name=a.name, type=a.type, unit=getattr(a, "unit", "") or "",
                low=float(rng[0]) if rng else None, high=float(rng[1]) if rng else None,
            ))
        out.append(CommandDef(
            name=c.name, apid=TC_COMMAND_APID, opcode=int(c.opcode),
            description=getattr(c, "description", None) or c.name, arguments=tuple(args),
        ))
    return out

"""Telecommand encoding: a profile command -> TC space packet -> TC frame data field.

A telecommand is one CCSDS space packet (133.0-B §4.1) of type TC (packet type
1), no secondary header, on :data:`TC_COMMAND_APID`, whose data field is the
command's 16-bit opcode followed by its arguments, big-endian, in the order the
profile lists them.  One packet fills one TC frame's data field (232.0 §4.1.3;
no segment header: the MAP service is not used).

The command list comes from the profile (``commands``: name, opcode, args); a
:class:`CommandSpec` is the codec's view of one entry.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from ..ccsds.packets import PacketType, SpacePacket, SpacePacketHeader
from ..errors import CommandError, RemoteProtocolError

__all__ = [
    "TC_COMMAND_APID",
    "ArgKind",
    "ArgSpec",
    "CommandCall",
    "CommandSpec",
    "CommandTable",
]

#: APID of telecommand packets (assumed: the profiles' telemetry APIDs stay below it).
TC_COMMAND_APID: Final = 0x064
_OPCODE: Final = struct.Struct(">H")


class ArgKind(Enum):
    """Argument wire types (big-endian)."""

    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    I32 = "i32"
    F32 = "f32"
    F64 = "f64"
    BOOL = "bool"
    ENUM = "enum"  # one octet: the index of the value in ``choices``

    @property
    def fmt(self) -> str:
        return {"u8": ">B", "u16": ">H", "u32": ">I", "i32": ">i", "f32": ">f", "f64": ">d",
                "bool": ">B", "enum": ">B"}[self.value]

    @property
    def size(self) -> int:
        return struct.calcsize(self.fmt)


@dataclass(frozen=True)
class ArgSpec:
    """One command argument: name, wire type, optional range or enum choices."""

    name: str
    kind: ArgKind
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def encode(self, text_or_value: Any, command: str) -> bytes:
        where = f"{command} {self.name}"
        value = self.parse(text_or_value, where)
        try:
            return struct.pack(self.kind.fmt, value)
        except (struct.error, OverflowError) as exc:
            # OverflowError: a finite float beyond f32's range (1e100 for an f32 argument).
            raise CommandError(f"{where}={text_or_value!r}: does not fit {self.kind.value}") from exc

    def parse(self, raw: Any, where: str) -> Any:
        kind = self.kind
        if kind is ArgKind.ENUM:
            text = str(raw)
            if text in self.choices:
                return self.choices.index(text)
            raise CommandError(f"{where}={text!r}: expected one of {', '.join(self.choices)}")
        if kind is ArgKind.BOOL:
            text = str(raw).lower()
            if text in ("1", "true", "on", "yes"):
                return 1
            if text in ("0", "false", "off", "no"):
                return 0
            raise CommandError(f"{where}={raw!r}: expected true or false")
        try:
            value: float = float(raw) if kind in (ArgKind.F32, ArgKind.F64) else int(str(raw), 0)
        except ValueError:
            raise CommandError(f"{where}={raw!r}: not a {kind.value} number") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise CommandError(f"{where}={raw!r}: must be finite")
        if self.minimum is not None and value < self.minimum:
            raise CommandError(f"{where}={raw}: below the minimum {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise CommandError(f"{where}={raw}: above the maximum {self.maximum:g}")
        return value

    def decode(self, raw: bytes) -> Any:
        (value,) = struct.unpack(self.kind.fmt, raw)
        if self.kind is ArgKind.ENUM:
            if value >= len(self.choices):
                raise RemoteProtocolError(f"{self.name}: enum index {value} out of range")
            return self.choices[value]
        if self.kind is ArgKind.BOOL:
            return bool(value)
        return value


@dataclass(frozen=True)
class CommandSpec:
    """One entry of the profile's command list."""

    name: str
    opcode: int
    args: tuple[ArgSpec, ...] = ()
    provenance: str = ""

    @property
    def args_size(self) -> int:
        return sum(a.kind.size for a in self.args)


@dataclass(frozen=True)
class CommandCall:
    """A decoded command, ready for dispatch."""

    name: str
    opcode: int
    args: Mapping[str, Any] = field(default_factory=dict)


def _arg_from_profile(entry: Any) -> ArgSpec:
    """One profile argument (``name``, ``type``, ``range``) as an :class:`ArgSpec`."""
    get = entry.get if isinstance(entry, Mapping) else (lambda k, d=None: getattr(entry, k, d))
    kind_value = get("type", None) or get("kind", "u8")
    kind_text = str(getattr(kind_value, "value", kind_value)).lower()
    aliases = {"uint8": "u8", "uint16": "u16", "uint32": "u32", "int32": "i32",
               "float": "f32", "float32": "f32", "float64": "f64", "double": "f64",
               "boolean": "bool"}
    try:
        kind = ArgKind(aliases.get(kind_text, kind_text))
    except ValueError:
        raise CommandError(f"argument {get('name')}: unknown wire type {kind_text!r}") from None
    choices = tuple(str(c) for c in (get("choices", None) or ()))
    if choices:
        kind = ArgKind.ENUM
    low, high = get("min", None), get("max", None)
    span = get("range", None)
    if span is not None:
        low, high = span[0], span[1]
    return ArgSpec(str(get("name")), kind, low, high, choices)


class CommandTable:
    """The profile's commands, by name and by opcode; encode and decode them."""

    def __init__(self, specs: Iterable[CommandSpec]) -> None:
        self.by_name: dict[str, CommandSpec] = {}
        self.by_opcode: dict[int, CommandSpec] = {}
        for spec in specs:
            self.by_name[spec.name] = spec
            self.by_opcode[spec.opcode] = spec

    @classmethod
    def from_profile(cls, profile: Any) -> CommandTable:
        """Read ``profile.commands`` (objects or mappings with name, opcode, args)."""
        entries: Sequence[Any] = getattr(profile, "commands", None) or []
        specs = []
        for entry in entries:
            get = entry.get if isinstance(entry, Mapping) else (
                lambda k, d=None, e=entry: getattr(e, k, d))
            opcode = get("opcode")
            opcode = getattr(opcode, "value", opcode)
            provenance = get("provenance", None) or get("source", "") or ""
            specs.append(CommandSpec(str(get("name")), int(str(opcode), 0),
                                     tuple(_arg_from_profile(a) for a in (get("args", None) or ())),
                                     str(provenance)))
        return cls(specs)

    def names(self) -> list[str]:
        return sorted(self.by_name)

    def encode(self, name: str, args: Mapping[str, Any], seq_count: int = 0) -> bytes:
        """The TC space packet for ``name`` with ``args`` (NAME=VALUE texts or values)."""
        spec = self.by_name.get(name)
        if spec is None:
            raise CommandError(f"unknown command {name!r}; known: {', '.join(self.names())}")
        unknown = set(args) - {a.name for a in spec.args}
        if unknown:
            raise CommandError(f"{name}: unknown argument(s) {', '.join(sorted(unknown))}; "
                               f"takes {', '.join(a.name for a in spec.args) or 'none'}")
        body = bytearray(_OPCODE.pack(spec.opcode))
        for arg in spec.args:
            if arg.name not in args:
                raise CommandError(f"{name}: argument {arg.name} missing")
            body += arg.encode(args[arg.name], name)
        header = SpacePacketHeader(PacketType.TC, TC_COMMAND_APID, seq_count % (1 << 14),
                                   len(body))
        return SpacePacket(header, bytes(body)).pack()

    def decode(self, data: bytes) -> CommandCall:
        """A TC frame data field -> the command; :class:`RemoteProtocolError` if malformed."""
        packet = SpacePacket.unpack(data)
        if packet.header.packet_type is not PacketType.TC:
            raise RemoteProtocolError("not a telecommand packet (packet type 0)", offset=0)
        if packet.apid != TC_COMMAND_APID:
            raise RemoteProtocolError(f"telecommand APID {packet.apid} is not {TC_COMMAND_APID}",
                                      offset=0)
        body = packet.data
        if len(body) < _OPCODE.size:
            raise RemoteProtocolError("telecommand packet shorter than its opcode", offset=6)
        (opcode,) = _OPCODE.unpack_from(body)
        spec = self.by_opcode.get(opcode)
        if spec is None:
            raise RemoteProtocolError(f"unknown opcode 0x{opcode:04X}", offset=6)
        if len(body) != _OPCODE.size + spec.args_size:
            raise RemoteProtocolError(
                f"{spec.name}: {len(body) - _OPCODE.size} argument octets, expected "
                f"{spec.args_size}", offset=8)
        values: dict[str, Any] = {}
        pos = _OPCODE.size
        for arg in spec.args:
            values[arg.name] = arg.decode(body[pos : pos + arg.kind.size])
            pos += arg.kind.size
        return CommandCall(spec.name, spec.opcode, values)


def default_command_table() -> CommandTable:
    """The commands every shipped profile carries (used when a profile has none yet)."""
    bands = ("S", "X", "Ka")
    return CommandTable([
        CommandSpec("HEATER_ON", 0x0101),
        CommandSpec("HEATER_OFF", 0x0102),
        CommandSpec("SET_MODE", 0x0103, (ArgSpec("mode", ArgKind.ENUM,
                                                 choices=("safe", "day", "night")),)),
        CommandSpec("SET_BAND", 0x0201, (ArgSpec("band", ArgKind.ENUM, choices=bands),)),
        CommandSpec("INSTRUMENT_START", 0x0301, (ArgSpec("instrument", ArgKind.U8),)),
        CommandSpec("INSTRUMENT_STOP", 0x0302, (ArgSpec("instrument", ArgKind.U8),)),
        CommandSpec("BOARD_REBOOT", 0x0401, (ArgSpec("board", ArgKind.ENUM,
                                                     choices=("gnc", "payload", "eps")),)),
        CommandSpec("RECORDER_DUMP", 0x0501),
        CommandSpec("TIME_CORRELATE", 0x0601),
    ])

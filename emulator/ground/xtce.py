"""XTCE 1.2 (OMG XTCE 1.2 = CCSDS 660.0-B-2) dictionary of a lander profile.

One ``SpaceSystem`` per profile:

* ``CCSDSPacket``: an abstract container holding the space packet primary
  header (CCSDS 133.0-B-2 §4.1.3: version 3 bits, type 1, secondary header
  flag 1, APID 11, sequence flags 2, sequence count 14, data length 16);
* one container per APID, restricted on ``PKT_APID``, with the packet time
  (CUC, CCSDS 301.0-B-4 §3.2: 4 coarse + 2 fine octets, P-field implicit,
  epoch 1958-01-01 TAI, XTCE's named epoch ``TAI``) and then the channels in
  profile order, big-endian, as :class:`~lunar_hil.emulator.telemetry.PacketLayout`
  packs them; opaque science data last, as a fixed-size binary parameter;
* integer channels with a scale or offset become float parameters with an
  integer encoding and a polynomial calibrator (eng = offset + scale * raw),
  which is exactly the inverse calibration ``decode --params-out`` applies;
* the profile's telecommands (when it lists any) as ``MetaCommand``s.

The element order follows the XTCE 1.2 schema (``SpaceSystem.xsd``), which the
tests validate against.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any, Final

from ..binding import telemetry_dictionary
from ..ccsds.packets import PRIMARY_HEADER_LENGTH
from ..telemetry import CHANNEL_TYPES, CUC_COARSE, CUC_FINE, ChannelDef, PacketLayout
from .commands import OPCODE_BITS, CommandDef, command_definitions
from .enumerations import enumeration_of

XTCE_NAMESPACE: Final = "http://www.omg.org/spec/XTCE/20180204"
XTCE_SCHEMA_LOCATION: Final = "http://www.omg.org/spec/XTCE/20180204/SpaceSystem.xsd"
_XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"

#: The abstract root container every telemetry packet extends.
ROOT_CONTAINER: Final = "CCSDSPacket"
#: Primary header fields (CCSDS 133.0-B-2 §4.1.3), names as space_packet_parser and
#: most XTCE examples spell them.
HEADER_FIELDS: Final[tuple[tuple[str, int], ...]] = (
    ("VERSION", 3), ("TYPE", 1), ("SEC_HDR_FLG", 1), ("PKT_APID", 11),
    ("SEQ_FLGS", 2), ("SRC_SEQ_CTR", 14), ("PKT_LEN", 16),
)
#: The packet time parameter (secondary header) shared by every container.
TIME_PARAMETER: Final = "PKT_TIME"
TIME_TYPE: Final = "CUC_4_2_TAI_Type"
#: One fine-time LSB in seconds: 2^-(8 * fine octets) (CCSDS 301.0 §3.2.2).
CUC_FINE_RESOLUTION: Final = 2.0 ** (-8 * CUC_FINE)

assert sum(bits for _, bits in HEADER_FIELDS) == 8 * PRIMARY_HEADER_LENGTH


def xtce_name(text: str) -> str:
    """A valid XTCE NameType (no ``. / : [ ]`` or space)."""
    return re.sub(r"[./:\[\] ]+", "_", text)


def _q(tag: str) -> str:
    return f"{{{XTCE_NAMESPACE}}}{tag}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: Any) -> ET.Element:
    el = ET.SubElement(parent, _q(tag), {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _bits(type_code: str) -> int:
    return 8 * int(CHANNEL_TYPES[type_code][-1])


def _unit_set(parent: ET.Element, unit: str) -> None:
    if unit:
        _sub(_sub(parent, "UnitSet"), "Unit", unit)


def _integer_encoding(parent: ET.Element, type_code: str) -> ET.Element:
    signed = type_code.startswith("i")
    return _sub(parent, "IntegerDataEncoding", sizeInBits=_bits(type_code),
                encoding="twosComplement" if signed else "unsigned")


def _polynomial(parent: ET.Element, offset: float, scale: float) -> None:
    poly = _sub(_sub(parent, "DefaultCalibrator"), "PolynomialCalibrator")
    _sub(poly, "Term", coefficient=repr(offset), exponent=0)
    _sub(poly, "Term", coefficient=repr(scale), exponent=1)


def channel_type_name(channel: ChannelDef) -> str:
    return f"{channel.name}_Type"


def _channel_type(types: ET.Element, c: ChannelDef) -> None:
    name = channel_type_name(c)
    desc = {"shortDescription": f"{c.source} [{c.low:g}, {c.high:g}] {c.unit}".strip()}
    labels = enumeration_of(c.source) if c.is_integer and c.scale == 1 and c.offset == 0 else None
    if labels is not None:
        el = _sub(types, "EnumeratedParameterType", name=name, **desc)
        _unit_set(el, c.unit)
        _integer_encoding(el, c.type)
        enums = _sub(el, "EnumerationList")
        for value, label in labels.items():
            _sub(enums, "Enumeration", value=value, label=label)
    elif not c.is_integer:
        el = _sub(types, "FloatParameterType", name=name, sizeInBits=_bits(c.type), **desc)
        _unit_set(el, c.unit)
        _sub(el, "FloatDataEncoding", sizeInBits=_bits(c.type), encoding="IEEE754_1985")
    elif c.scale == 1 and c.offset == 0:
        el = _sub(types, "IntegerParameterType", name=name, signed=str(c.type[0] == "i").lower(),
                  sizeInBits=_bits(c.type), **desc)
        _unit_set(el, c.unit)
        _integer_encoding(el, c.type)
    else:
        el = _sub(types, "FloatParameterType", name=name, sizeInBits=64, **desc)
        _unit_set(el, c.unit)
        _polynomial(_integer_encoding(el, c.type), c.offset, c.scale)


def science_parameter(layout: PacketLayout) -> str:
    return f"{xtce_name(layout.name)}_SCIENCE_DATA"


def _telemetry(ss: ET.Element, layouts: Iterable[PacketLayout]) -> None:
    layouts = list(layouts)
    tm = _sub(ss, "TelemetryMetaData")
    types = _sub(tm, "ParameterTypeSet")
    params = _sub(tm, "ParameterSet")
    containers = _sub(tm, "ContainerSet")

    for field, bits in HEADER_FIELDS:
        el = _sub(types, "IntegerParameterType", name=f"{field}_Type", signed="false",
                  sizeInBits=bits)
        _sub(el, "IntegerDataEncoding", sizeInBits=bits, encoding="unsigned")
        _sub(params, "Parameter", name=field, parameterTypeRef=f"{field}_Type")

    # CUC 4+2 as one 48-bit count of 2^-16 s since 1958-01-01 TAI.
    t = _sub(types, "AbsoluteTimeParameterType", name=TIME_TYPE,
             shortDescription="CCSDS 301.0 CUC, 4 coarse + 2 fine octets, epoch 1958-01-01 TAI")
    enc = _sub(t, "Encoding", units="seconds", scale=repr(CUC_FINE_RESOLUTION), offset="0")
    _sub(enc, "IntegerDataEncoding", sizeInBits=8 * (CUC_COARSE + CUC_FINE), encoding="unsigned")
    _sub(_sub(t, "ReferenceTime"), "Epoch", "TAI")
    _sub(params, "Parameter", name=TIME_PARAMETER, parameterTypeRef=TIME_TYPE,
         shortDescription="packet time (secondary header)")

    seen: dict[str, ChannelDef] = {}
    for layout in layouts:
        for c in layout.channels:
            if c.name in seen:
                continue  # the same channel in two packets: one parameter
            seen[c.name] = c
            _channel_type(types, c)
            _sub(params, "Parameter", name=c.name, parameterTypeRef=channel_type_name(c))
        if layout.science_bytes:
            pname = science_parameter(layout)
            el = _sub(types, "BinaryParameterType", name=f"{pname}_Type",
                      shortDescription="opaque instrument data")
            benc = _sub(el, "BinaryDataEncoding")
            _sub(_sub(benc, "SizeInBits"), "FixedValue", str(8 * layout.science_bytes))
            _sub(params, "Parameter", name=pname, parameterTypeRef=f"{pname}_Type")

    root = _sub(containers, "SequenceContainer", name=ROOT_CONTAINER, abstract="true",
                shortDescription="CCSDS 133.0 space packet primary header")
    entries = _sub(root, "EntryList")
    for field, _ in HEADER_FIELDS:
        _sub(entries, "ParameterRefEntry", parameterRef=field)

    for layout in layouts:
        sc = _sub(containers, "SequenceContainer", name=xtce_name(layout.name),
                  shortDescription=f"APID {layout.apid}, {layout.rate_hz:g} Hz, VC {layout.vcid}")
        entries = _sub(sc, "EntryList")
        _sub(entries, "ParameterRefEntry", parameterRef=TIME_PARAMETER)
        for c in layout.channels:
            _sub(entries, "ParameterRefEntry", parameterRef=c.name)
        if layout.science_bytes:
            _sub(entries, "ParameterRefEntry", parameterRef=science_parameter(layout))
        base = _sub(sc, "BaseContainer", containerRef=ROOT_CONTAINER)
        crit = _sub(base, "RestrictionCriteria")
        _sub(crit, "Comparison", parameterRef="PKT_APID", value=layout.apid)


def _commands(ss: ET.Element, commands: list[CommandDef]) -> None:
    """Telecommands as space packets (CCSDS 133.0, type 1): opcode, then the arguments."""
    cmd = _sub(ss, "CommandMetaData")
    arg_types = _sub(cmd, "ArgumentTypeSet")
    metas = _sub(cmd, "MetaCommandSet")
    header_fixed = {"VERSION": 0, "TYPE": 1, "SEC_HDR_FLG": 0, "SEQ_FLGS": 3}

    for field, bits in HEADER_FIELDS:
        el = _sub(arg_types, "IntegerArgumentType", name=f"{field}_ArgType", signed="false",
                  sizeInBits=bits)
        _sub(el, "IntegerDataEncoding", sizeInBits=bits, encoding="unsigned")
    made: set[str] = set()
    for c in commands:
        for a in c.arguments:
            tname = f"{c.name}_{a.name}_ArgType"
            if tname in made:
                continue
            made.add(tname)
            if a.type.startswith("f"):
                el = _sub(arg_types, "FloatArgumentType", name=tname, sizeInBits=_bits(a.type))
                _unit_set(el, a.unit)
                _sub(el, "FloatDataEncoding", sizeInBits=_bits(a.type), encoding="IEEE754_1985")
            else:
                el = _sub(arg_types, "IntegerArgumentType", name=tname,
                          signed=str(a.type[0] == "i").lower(), sizeInBits=_bits(a.type))
                _unit_set(el, a.unit)
                _integer_encoding(el, a.type)
            if a.low is not None and a.high is not None:
                valid = _sub(el, "ValidRangeSet")
                if a.type.startswith("f"):
                    _sub(valid, "ValidRange", minInclusive=repr(a.low), maxInclusive=repr(a.high))
                else:
                    _sub(valid, "ValidRange", minInclusive=int(a.low), maxInclusive=int(a.high))
    opcode_type = "OPCODE_ArgType"
    el = _sub(arg_types, "IntegerArgumentType", name=opcode_type, signed="false",
              sizeInBits=OPCODE_BITS)
    _sub(el, "IntegerDataEncoding", sizeInBits=OPCODE_BITS, encoding="unsigned")

    root = _sub(metas, "MetaCommand", name="CCSDSTelecommand", abstract="true",
                shortDescription="CCSDS 133.0 telecommand packet primary header")
    args = _sub(root, "ArgumentList")
    for field, _ in HEADER_FIELDS:
        _sub(args, "Argument", name=field, argumentTypeRef=f"{field}_ArgType")
    cc = _sub(root, "CommandContainer", name="CCSDSTelecommand_Container")
    entries = _sub(cc, "EntryList")
    for field, _ in HEADER_FIELDS:
        _sub(entries, "ArgumentRefEntry", argumentRef=field)

    for c in commands:
        mc = _sub(metas, "MetaCommand", name=xtce_name(c.name), shortDescription=c.description)
        base = _sub(mc, "BaseMetaCommand", metaCommandRef="CCSDSTelecommand")
        assign = _sub(base, "ArgumentAssignmentList")
        fixed = dict(header_fixed, PKT_APID=c.apid)
        for field, value in fixed.items():
            _sub(assign, "ArgumentAssignment", argumentName=field, argumentValue=value)
        args = _sub(mc, "ArgumentList")
        _sub(args, "Argument", name="OPCODE", argumentTypeRef=opcode_type, initialValue=c.opcode)
        for a in c.arguments:
            _sub(args, "Argument", name=a.name, argumentTypeRef=f"{c.name}_{a.name}_ArgType")
        cc = _sub(mc, "CommandContainer", name=f"{xtce_name(c.name)}_Container")
        entries = _sub(cc, "EntryList")
        _sub(entries, "ArgumentRefEntry", argumentRef="OPCODE")
        for a in c.arguments:
            _sub(entries, "ArgumentRefEntry", argumentRef=a.name)
        _sub(cc, "BaseContainer", containerRef="CCSDSTelecommand_Container")


def build_xtce(profile: Any) -> bytes:
    """The profile's XTCE 1.2 document (UTF-8 XML)."""
    ET.register_namespace("xtce", XTCE_NAMESPACE)
    ET.register_namespace("xsi", _XSI)
    ss = ET.Element(_q("SpaceSystem"), {
        "name": xtce_name(profile.id),
        "shortDescription": f"{profile.name}: telemetry and telecommands generated by lunar-hil",
        f"{{{_XSI}}}schemaLocation": f"{XTCE_NAMESPACE} {XTCE_SCHEMA_LOCATION}",
    })
    _sub(ss, "Header", version="1.0", date="generated from the lander profile",
         validationStatus="Working")
    _telemetry(ss, telemetry_dictionary(profile))
    commands = command_definitions(profile)
    if commands:
        _commands(ss, commands)
    ET.indent(ss)
    return ET.tostring(ss, encoding="utf-8", xml_declaration=True) + b"\n"

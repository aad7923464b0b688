"""ccsdspy (NASA/HERMES, PyPI) decodes our packets layer to ``decode --params-out``'s values.

ccsdspy's ``FixedLength`` is built from nothing but ``lunar-hil profiles show
--json``: the 6-octet CUC secondary header as one 48-bit count of 2^-16 s
(301.0 §3.2.2: 4 coarse + 2 fine octets), then each channel in profile order
(big-endian, ``u16`` -> ``uint`` 16 bits, ``f32`` -> ``float`` 32 bits),
calibrated with ccsdspy's own ``LinearConverter`` (eng = scale * raw + offset),
then the opaque science octets as ``fill``. ccsdspy splits the mixed packets
file by APID itself (``utils.split_by_apid``).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from typing import Any

import ccsdspy
from ccsdspy.converters import LinearConverter
from ccsdspy.utils import split_by_apid

from .conftest import DecodedRun, cli

#: profile channel type -> (ccsdspy data_type, bits)
CCSDSPY_TYPES = {
    "u8": ("uint", 8), "u16": ("uint", 16), "u32": ("uint", 32),
    "i8": ("int", 8), "i16": ("int", 16), "i32": ("int", 32),
    "f32": ("float", 32), "f64": ("float", 64),
}
CUC_FINE_BITS = 16


def ccsdspy_definition(apid: Mapping[str, Any], byte_order: str = "big") -> Any:
    """A ``ccsdspy.FixedLength`` for one APID of ``profiles show --json``'s ``apids``."""
    fields = [ccsdspy.PacketField(name="PKT_TIME_RAW", data_type="uint", bit_length=48)]
    for c in apid["channels"]:
        kind, bits = CCSDSPY_TYPES[c["type"]]
        fields.append(ccsdspy.PacketField(name=c["name"], data_type=kind, bit_length=bits,
                                          byte_order=byte_order))
    if apid.get("science_bytes"):
        fields.append(ccsdspy.PacketField(name="SCIENCE", data_type="fill",
                                          bit_length=8 * apid["science_bytes"]))
    pkt = ccsdspy.FixedLength(fields)
    pkt.add_converted_field("PKT_TIME_RAW", "PKT_TIME", LinearConverter(2.0**-CUC_FINE_BITS, 0))
    for c in apid["channels"]:
        if c["type"][0] in "ui" and (c["scale"] != 1 or c["offset"] != 0):
            pkt.add_converted_field(c["name"], f"{c['name']}__eng",
                                    LinearConverter(c["scale"], c["offset"]))
    return pkt


def ccsdspy_decode(packets: bytes, apids: list[Mapping[str, Any]],
                   byte_order: str = "big") -> dict[int, dict[str, Any]]:
    """{APID: ccsdspy's arrays} for every APID of the dictionary found in ``packets``.

    Calibrated channels are returned under their own name (the ``__eng`` field).
    """
    by_apid = split_by_apid(io.BytesIO(packets))
    out: dict[int, dict[str, Any]] = {}
    for apid in apids:
        stream = by_apid.get(apid["apid"])
        if stream is None:
            continue
        arrays = ccsdspy_definition(apid, byte_order).load(stream, include_primary_header=True)
        for c in apid["channels"]:
            if f"{c['name']}__eng" in arrays:
                arrays[c["name"]] = arrays.pop(f"{c['name']}__eng")
        out[apid["apid"]] = arrays
    return out


def same(got: float, want: float) -> bool:
    if isinstance(want, float) and math.isnan(want):
        return math.isnan(got)
    return float(got) == want


def compare(decoded: dict[int, dict[str, Any]], params: list[dict[str, Any]]) -> tuple[int, int]:
    """(values compared, values equal) of ``decode --params-out`` records against ccsdspy."""
    index: dict[int, int] = {}
    compared = equal = 0
    for ref in params:
        i = index.get(ref["apid"], 0)
        index[ref["apid"]] = i + 1
        arrays = decoded[ref["apid"]]
        checks = [(arrays["CCSDS_APID"][i], ref["apid"]),
                  (arrays["CCSDS_SEQUENCE_COUNT"][i], ref["seq"]),
                  (arrays["PKT_TIME"][i], ref["time"])]
        checks += [(arrays[name][i], value) for name, value in ref["params"].items()]
        compared += len(checks)
        equal += sum(same(got, want) for got, want in checks)
    for apid, n in index.items():  # every packet ccsdspy decoded has its record, no more
        assert len(decoded[apid]["CCSDS_APID"]) == n, apid
    return compared, equal


def apids_of(profile: str) -> list[dict[str, Any]]:
    return json.loads(cli("profiles", "show", profile, "--json").stdout)["apids"]


def test_ccsdspy_decodes_every_apid_to_decode_values(apex_surface: DecodedRun) -> None:
    apids = apids_of("apex-1.0")
    decoded = ccsdspy_decode(apex_surface.packets_path.read_bytes(), apids)
    # Housekeeping (calibrated u16, i16, f32, f64) and the science-carrying payload APID.
    assert {256, 257, 258, 259, 260, 512} <= set(decoded)
    assert len(decoded[256]["PWR_SOLAR_W"]) == sum(r["apid"] == 256 for r in apex_surface.params) > 0
    compared, equal = compare(decoded, apex_surface.params)
    assert compared > 1000 and equal == compared, (equal, compared)


def test_ccsdspy_decodes_a_descent_to_decode_values(m1_descent: DecodedRun) -> None:
    """HAKUTO-R M1 in powered descent: altitude, velocities and propellant change every packet."""
    decoded = ccsdspy_decode(m1_descent.packets_path.read_bytes(), apids_of("hakuto-r-m1"))
    compared, equal = compare(decoded, m1_descent.params)
    assert compared > 1000 and equal == compared, (equal, compared)
    assert len(set(decoded[258]["GNC_ALTITUDE_M"])) > 10


def test_the_comparison_catches_a_wrong_definition(apex_surface: DecodedRun) -> None:
    """Little-endian channels (a plausible slip) decode to other values, and compare says so."""
    decoded = ccsdspy_decode(apex_surface.packets_path.read_bytes(), apids_of("apex-1.0"),
                             byte_order="little")
    compared, equal = compare(decoded, apex_surface.params)
    assert compared > 0 and equal < compared

"""XTCE: schema-valid, and an independent XTCE decoder reads our packets to our values.

space_packet_parser (PyPI) bundles the OMG XTCE 1.2 schema and decodes space
packets from nothing but an XTCE document; it never sees our code. Its values
must equal what ``lunar-hil decode --params-out`` reports for the same run.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
from space_packet_parser.xtce import validation
from space_packet_parser.xtce.definitions import XtcePacketDefinition

from lunar_hil.profiles.loader import list_profiles

from .conftest import DecodedRun, cli


def _xtce(tmp_path: Path, profile: str) -> Path:
    path = tmp_path / f"{profile}.xml"
    cli("xtce", profile, "--out", str(path))
    return path


@pytest.mark.parametrize("profile", [p.id for p in list_profiles()])
def test_every_profile_validates_against_the_xtce_1_2_schema(tmp_path: Path, profile: str) -> None:
    path = _xtce(tmp_path, profile)
    schema = validation.validate_xtce(
        path, level="schema", print_results=False, raise_on_error=False,
        allow_schema_download=False,  # the bundled SpaceSystem.xsd, no network
    )
    assert bool(schema), [str(e) for e in schema.errors]
    # space_packet_parser's structure rules (references resolve, names unique) on top.
    # It indexes SequenceContainers only, so a MetaCommand's CommandContainer that
    # extends the abstract telecommand's CommandContainer (XTCE 1.2 §3.4.3.6) is
    # reported unresolved; every other finding fails the test.
    structure = validation.validate_xtce(path, level="structure", print_results=False,
                                         raise_on_error=False, allow_schema_download=False)
    others = [e for e in structure.errors
              if "'CCSDSTelecommand_Container'" not in e.message]
    assert not others, [str(e) for e in others]


def test_schema_validation_rejects_a_broken_document(tmp_path: Path) -> None:
    """The validator is live: a float encoding with a made-up name fails."""
    path = _xtce(tmp_path, "apex-1.0")
    broken = path.read_text().replace('encoding="IEEE754_1985"', 'encoding="IEEE-754"', 1)
    path.write_text(broken)
    result = validation.validate_xtce(path, level="schema", print_results=False,
                                      raise_on_error=False, allow_schema_download=False)
    assert not result


def _compare(run: DecodedRun, xtce: Path) -> dict[str, int]:
    definition = XtcePacketDefinition.from_xtce(xtce)
    packets = run.packets()
    assert len(packets) == len(run.params) > 0
    seen: dict[str, int] = {}
    for raw, ref in zip(packets, run.params, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a length mismatch warning is a failure
            parsed = definition.parse_bytes(raw)
        assert parsed["PKT_APID"] == ref["apid"]
        assert parsed["SRC_SEQ_CTR"] == ref["seq"]
        assert float(parsed["PKT_TIME"]) == ref["time"]
        for name, value in ref["params"].items():
            got = parsed[name]
            # Enumerations: XTCE's derived value is the label; the number is the raw value.
            number = got.raw_value if isinstance(got, str) else float(got)
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(number), name
            else:
                assert number == value, (name, number, value)
            seen[name] = seen.get(name, 0) + 1
    return seen


def test_space_packet_parser_decodes_apex_packets_to_decode_values(
    tmp_path: Path, apex_surface: DecodedRun
) -> None:
    seen = _compare(apex_surface, _xtce(tmp_path, "apex-1.0"))
    # Calibrated (u16 * 0.1 W), signed, float and the science-carrying payload APID all covered.
    assert {"PWR_SOLAR_W", "PWR_NET_W", "PWR_BATT_ENERGY_WH", "PAY_CUSTOMER_ON"} <= set(seen)


def test_space_packet_parser_decodes_enumerations_during_descent(
    tmp_path: Path, m1_descent: DecodedRun
) -> None:
    definition = XtcePacketDefinition.from_xtce(_xtce(tmp_path, "hakuto-r-m1"))
    _compare(m1_descent, _xtce(tmp_path, "hakuto-r-m1"))
    phases = {str(definition.parse_bytes(p)["GNC_PHASE"]) for p in m1_descent.packets()
              if int.from_bytes(p[:2], "big") & 0x7FF == 258}
    assert phases <= {"CRUISE", "BRAKING", "APPROACH", "TERMINAL", "LANDED", "CRASHED"}
    assert "BRAKING" in phases

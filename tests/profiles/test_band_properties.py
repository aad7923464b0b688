"""Hypothesis: band framing rules from the CCSDS books, checked independently.

Valid parameters are generated from the rules as the standards state them
(131.0 4.3.7 RS frame length (223 - Q)·I; 132.0 SCID 10 bits, VCID 3 bits,
frame <= 2048; 732.0 SCID 8 bits, VCID 6 bits); invalid ones break one rule
and the error must name the field.
"""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lunar_hil.profiles.loader import format_validation_error
from lunar_hil.profiles.schema import Band

PROV = "assumed: hypothesis-generated band"


@st.composite
def valid_band(draw: st.DrawFn) -> dict[str, Any]:
    frame_type = draw(st.sampled_from(["TM", "AOS"]))
    scid_limit, vcid_limit = (1024, 8) if frame_type == "TM" else (256, 64)
    interleave = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 8]))
    # smallest frame: 6-byte header (+2 M_PDU header for AOS) + OCF 4 + FECF 2 + 1 data byte
    min_len = (6 if frame_type == "TM" else 8) + 4 + 2 + 1
    max_len = 2048 if frame_type == "TM" else 4096
    if interleave:
        q = draw(st.integers(0, 222))
        length = (223 - q) * interleave
    else:
        length = draw(st.integers(min_len, max_len))
    assume(min_len <= length <= max_len)
    vcids = draw(st.lists(st.integers(0, vcid_limit - 1), min_size=1, max_size=4, unique=True))
    idle = draw(st.integers(0, vcid_limit - 1).filter(lambda v: v not in vcids))
    return {
        "provenance": PROV,
        "name": draw(st.sampled_from(["S", "X", "Ka"])),
        "bit_rate_bps": draw(st.integers(1, 10**9)),
        "scid": draw(st.integers(0, scid_limit - 1)),
        "frame_type": frame_type,
        "frame_length": length,
        "rs_interleave": interleave,
        "convolutional": draw(st.booleans()),
        "randomizer": draw(st.booleans()),
        "idle_vcid": idle,
        "carrier_hz": 8.45e9,
        "virtual_channels": [{"vcid": v, "name": f"vc{v}", "apids": []} for v in vcids],
    }


def _error_lines(data: dict[str, Any]) -> list[str]:
    try:
        Band.model_validate(data)
    except ValidationError as exc:
        return format_validation_error("F", exc)
    return []


@settings(max_examples=150, deadline=None)
@given(valid_band())
def test_valid_bands_accepted(data: dict[str, Any]) -> None:
    band = Band.model_validate(data)
    assert band.codeblock_length == data["frame_length"] + 32 * data["rs_interleave"]
    if data["rs_interleave"]:
        assert band.rs_virtual_fill == 223 - data["frame_length"] // data["rs_interleave"]


@settings(max_examples=150, deadline=None)
@given(valid_band(), st.data())
def test_invalid_bands_rejected_naming_the_field(data: dict[str, Any], draw: st.DataObject) -> None:
    tm = data["frame_type"] == "TM"
    breakers = {
        "scid": lambda: draw.draw(st.integers(1024 if tm else 256, 5000)),
        "idle_vcid": lambda: draw.draw(st.integers(8 if tm else 64, 500)),
        "rs_interleave": lambda: draw.draw(st.integers(0, 300).filter(lambda i: i not in (0, 1, 2, 3, 4, 5, 8))),
        "bit_rate_bps": lambda: draw.draw(st.integers(-10**6, 0)),
    }
    if data["rs_interleave"]:
        i = data["rs_interleave"]
        breakers["frame_length"] = lambda: draw.draw(
            st.integers(15, 223 * i + 500).filter(lambda n: n % i != 0 or n > 223 * i)
        )
    elif tm:
        breakers["frame_length"] = lambda: draw.draw(st.integers(2049, 10000))
    field = draw.draw(st.sampled_from(sorted(breakers)))
    bad = {**data, field: breakers[field]()}
    lines = _error_lines(bad)
    assert lines, bad
    assert any(line.startswith(f"F: {field}: ") for line in lines), (field, lines)


@settings(max_examples=100, deadline=None)
@given(valid_band(), st.data())
def test_bad_vcid_rejected(data: dict[str, Any], draw: st.DataObject) -> None:
    limit = 8 if data["frame_type"] == "TM" else 64
    bad_vcid = draw.draw(st.integers(limit, 1000))
    bad = {**data, "virtual_channels": [*data["virtual_channels"], {"vcid": bad_vcid, "name": "x"}]}
    index = len(data["virtual_channels"])
    assert any(line.startswith(f"F: virtual_channels.{index}.vcid: ") for line in _error_lines(bad))

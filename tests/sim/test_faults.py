"""Fault specifications: the CLI form and its one-line errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.errors import ScenarioError
from lunar_hil.emulator.sim.faults import FAULT_KINDS, Fault, parse_fault_spec

# (spec, kind, at_s, params that must be present, duration) - the forms in the brief.
VALID = [
    ("heater_stuck_off@3600", "heater_stuck_off", 3600.0, {}, None),
    ("battery_cell_loss@7200:fraction=0.25", "battery_cell_loss", 7200.0, {"fraction": 0.25}, None),
    ("sensor_dropout@60:sensor=lrf,duration=30", "sensor_dropout", 60.0, {"sensor": "lrf"}, 30.0),
    ("sensor_dropout@0:sensor=thermal", "sensor_dropout", 0.0, {"sensor": "thermal"}, None),
    ("solar_array_degradation@1e3:fraction=0.5", "solar_array_degradation", 1000.0,
     {"fraction": 0.5}, None),
    ("lrf_altitude_jump@240:jump_m=3000", "lrf_altitude_jump", 240.0, {"jump_m": 3000.0}, None),
    (" heater_stuck_on@10 ", "heater_stuck_on", 10.0, {}, None),
]


@pytest.mark.parametrize(("spec", "kind", "at_s", "params", "duration"), VALID)
def test_valid_specs(spec: str, kind: str, at_s: float, params: dict[str, object],
                     duration: float | None) -> None:
    fault = parse_fault_spec(spec)
    assert (fault.kind, fault.at_s, fault.duration_s) == (kind, at_s, duration)
    for key, value in params.items():
        assert fault.params[key] == value


def test_defaults_and_round_trip() -> None:
    fault = parse_fault_spec("battery_cell_loss@5")
    assert fault.number("fraction") == 0.25  # the documented default
    again = parse_fault_spec(parse_fault_spec("sensor_dropout@60:sensor=imu,duration=30").describe())
    assert again == parse_fault_spec("sensor_dropout@60:sensor=imu,duration=30")


def test_active_window() -> None:
    fault = parse_fault_spec("sensor_dropout@60:sensor=lrf,duration=30")
    assert not fault.active(59.9) and fault.active(60.0) and fault.active(89.9)
    assert not fault.active(90.0)
    assert math.isinf(parse_fault_spec("heater_stuck_off@1").end_s)


# (spec, words the message must contain)
INVALID = [
    ("heater_stuck_off", "KIND@SECONDS"),
    ("warp_drive@10", "unknown kind"),
    ("heater_stuck_off@soon", "not a number"),
    ("heater_stuck_off@-5", ">= 0"),
    ("battery_cell_loss@10:fraction=1.5", "0..1"),
    ("battery_cell_loss@10:fraction=lots", "must be a number"),
    ("battery_cell_loss@10:volume=3", "unknown parameter"),
    ("sensor_dropout@10:sensor=radar", "lrf, imu, thermal"),
    ("sensor_dropout@10:sensor", "key=value"),
    ("sensor_dropout@10:duration=0", "duration"),
    ("heater_stuck_off@nan", "number"),
    ("battery_cell_loss@1:fraction=0.1,fraction=0.2", "twice"),
]


@pytest.mark.parametrize(("spec", "words"), INVALID)
def test_invalid_specs_one_line(spec: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_fault_spec(spec)
    message = str(info.value)
    assert "\n" not in message
    assert words in message
    assert repr(spec) in message  # names the offending spec


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_raises_scenario_error(text: str) -> None:
    try:
        fault = parse_fault_spec(text)
    except ScenarioError as exc:
        assert "\n" not in str(exc)
    else:
        assert fault.kind in FAULT_KINDS


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(sorted(FAULT_KINDS)),
    st.floats(min_value=0, max_value=1e7, allow_nan=False),
    st.one_of(st.none(), st.floats(min_value=0.5, max_value=1e6)),
)
def test_describe_round_trips(kind: str, at_s: float, duration: float | None) -> None:
    fault = Fault(kind=kind, at_s=at_s, duration_s=duration)
    again = parse_fault_spec(fault.describe())
    assert again.kind == fault.kind
    assert again.at_s == pytest.approx(fault.at_s, rel=1e-5)
    assert dict(again.params) == dict(fault.params)  # parameters print in full precision

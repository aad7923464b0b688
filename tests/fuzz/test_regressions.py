"""Crashes the fuzzers found, pinned as plain examples (each raised a bare
Python error before its fix; now each is one ConfigError line)."""

from __future__ import annotations

import copy
import math
import struct
from pathlib import Path
from typing import Any

import pytest

from lunar_hil.emulator.errors import CommandError, ConfigError, ProfileError, ScenarioError
from lunar_hil.emulator.sim.faults import Fault, parse_fault_spec
from lunar_hil.emulator.sim.scenario import load_scenario, scenario_from_mapping
from lunar_hil.emulator.uplink import ArgKind, ArgSpec
from lunar_hil.emulator.yamlsafe import YamlRefused, load_yaml_text, read_bounded
from lunar_hil.firmware_stubs import protocol as bp
from lunar_hil.firmware_stubs.board import BoardFirmware
from lunar_hil.profiles.loader import (
    PROFILE_DIR,
    load_file,
    load_profile,
    profile_from_mapping,
    resolve_file,
)

HUGE = 10**400  # what YAML makes of a 1 followed by 400 zeros: an int no float holds


@pytest.mark.parametrize("text", ["\x1f", "name: x\nphase: \x07\n", "\ufffe"])
def test_yaml_forbidden_character_is_one_line(text: str) -> None:
    """PyYAML's reader raised ReaderError before the guarded block (a traceback)."""
    with pytest.raises(YamlRefused, match=r"^x\.yaml: character U\+[0-9A-F]{4} at offset \d+"):
        load_yaml_text(text, "x.yaml")


@pytest.mark.parametrize("text", ["!!int ", "!!float ", "a: !!int\n", "!!timestamp ",
                                  "a: [!!timestamp x]\n", "!!bool "])
def test_yaml_empty_tagged_scalar_is_one_line(text: str) -> None:
    """PyYAML's int/float constructors raised IndexError on an empty scalar, its
    timestamp constructor AttributeError."""
    with pytest.raises(YamlRefused, match=r"^x\.yaml: "):
        load_yaml_text(text, "x.yaml")


def test_profile_and_scenario_files_with_a_control_character(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("extends: apex-1.0\n\x1b[2J\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: character U\+001B"):
        load_file(path)
    with pytest.raises(ScenarioError, match=r"p\.yaml: character U\+001B"):
        load_scenario(str(path))


BASE = {"name": "x", "phase": "descent", "duration_s": 60}


@pytest.mark.parametrize(("extra", "field"), [
    ({"duration_s": HUGE}, "duration_s"),
    ({"solar_declination_deg": HUGE}, "solar_declination_deg"),
    ({"start_local_time_h": -HUGE}, "start_local_time_h"),
    ({"relay_deploy_s": [HUGE]}, "relay_deploy_s[0]"),
    ({"faults": [{"kind": "heater_stuck_on", "at_s": HUGE}]}, "faults[0]"),
    ({"faults": [{"kind": "heater_stuck_on", "at_s": 1, "duration_s": HUGE}]}, "faults[0]"),
    ({"faults": [{"kind": "battery_cell_loss", "at_s": 1, "params": {"fraction": HUGE}}]},
     "faults[0]"),
])
def test_scenario_huge_int_is_refused(extra: dict, field: str) -> None:
    """math.isfinite / float() raised OverflowError on YAML's huge ints."""
    with pytest.raises(ScenarioError) as info:
        scenario_from_mapping({**BASE, **extra}, source="s.yaml")
    message = str(info.value)
    assert message.startswith(f"s.yaml: {field}: ") and len(message) < 200


def test_scenario_huge_int_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nphase: descent\nduration_s: 1" + "0" * 400 + "\n")
    with pytest.raises(ScenarioError, match="duration_s: must be a number"):
        load_scenario(str(path))


def test_fault_param_huge_int() -> None:
    with pytest.raises(ScenarioError, match="fraction must be a number"):
        Fault("battery_cell_loss", 1.0, {"fraction": HUGE})
    assert parse_fault_spec("battery_cell_loss@1:fraction=0.5").number("fraction") == 0.5


@pytest.mark.parametrize("text", ["1e100", "-3.5e38", "1E39"])
def test_f32_argument_beyond_range_is_a_command_error(text: str) -> None:
    """struct.pack('>f', 1e100) raised OverflowError, not struct.error, past ArgSpec.encode."""
    spec = ArgSpec("gain", ArgKind.F32)
    with pytest.raises(CommandError, match=r"^CMD gain='.*': does not fit f32$"):
        spec.encode(text, "CMD")
    assert spec.decode(spec.encode("3.0e38", "CMD")) == pytest.approx(3.0e38, rel=1e-6)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("scale", 1e-320, "scale: scale 1e-320 puts range [0.0, 6000.0] beyond any u16"),
    ("scale", math.nan, "scale: scale must be a finite number"),
    ("offset", math.inf, "offset: offset must be a finite number"),
    ("range", [0, math.inf], "range: range must be a finite number"),
])
def test_channel_scale_that_overflows_is_a_profile_line(key: str, value: Any,
                                                        message: str) -> None:
    """round(inf) in the channel range check raised OverflowError through pydantic."""
    data = copy.deepcopy(resolve_file(PROFILE_DIR / "series-3.yaml"))
    data["apids"][0]["channels"][0][key] = value
    with pytest.raises(ProfileError) as info:
        profile_from_mapping(data, "series-3.yaml")
    assert str(info.value).startswith(f"series-3.yaml: apids.0.channels.0.{message}")
    assert len(str(info.value).splitlines()) == 1


def test_gnc_firmware_refuses_sensors_it_cannot_answer() -> None:
    """Two GNC_SENSORS frames (found by hypothesis) pushed the board's altitude
    estimate past the f32 range: packing the answer raised OverflowError out of
    BoardFirmware.receive, which would end the firmware's UART loop."""
    values = [1.0] * 17
    values[8] = 1  # lrf_valid
    values[11] = 3.0e38  # nav_altitude_m: the estimator starts there
    values[9] = 1.0e38  # imu_vz_mps: propagated by dt_s, past f32's 3.4e38
    board = BoardFirmware(bp.BoardKind.GNC)
    frame = bp.encode_frame(bp.MsgType.GNC_SENSORS, 1, struct.pack(bp.GncSensors.FORMAT, *values))
    out = bp.FrameDecoder().feed(board.receive(frame + frame))
    assert [f.msg_type for f in out][-1] == bp.MsgType.NACK
    assert board.counters["nacks"] == 1 and board.gnc.est_h is None  # refused, reset
    values[11], values[9] = 1000.0, -10.0
    frame = bp.encode_frame(bp.MsgType.GNC_SENSORS, 2, struct.pack(bp.GncSensors.FORMAT, *values))
    (answer,) = bp.FrameDecoder().feed(board.receive(frame))
    assert answer.msg_type == bp.MsgType.GNC_ACTUATORS  # the board flies on


def test_multiline_extends_is_one_line(tmp_path: Path) -> None:
    """``extends: apex-1.0`` then a blank and an indented line reads as the id
    ``"apex-1.0\\na"``; echoed as is, the error was two lines."""
    path = tmp_path / "p.yaml"
    path.write_text("extends: apex-1.0\n\n  a\n")
    with pytest.raises(ProfileError) as info:
        load_file(path)
    assert str(info.value) == (f"{path}: extends: 'apex-1.0\\na': no such profile (known: "
                               "apex-1.0, hakuto-r-m1, lupex, series-2, series-3)")
    with pytest.raises(ProfileError, match=r"^'a\\nb': no such profile"):
        load_profile("a\nb")


@pytest.mark.parametrize("ref", ['"x\\0y.yaml"', '"_x\\0y"'])
def test_nul_in_extends_is_a_profile_error(tmp_path: Path, ref: str) -> None:
    """pathlib's resolve() raised ValueError (embedded null byte) from _extends_file."""
    path = tmp_path / "p.yaml"
    path.write_text(f"extends: {ref}\n")
    with pytest.raises(ProfileError) as info:
        load_file(path)
    assert len(str(info.value).splitlines()) == 1 and "\x00" not in str(info.value)
    with pytest.raises(YamlRefused, match="not a usable file name"):
        read_bounded(Path("x\x00y.yaml"), "x\x00y.yaml")

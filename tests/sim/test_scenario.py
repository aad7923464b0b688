"""Scenario files: the shipped ones load; bad ones give one-line FILE: field: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from lunar_hil.emulator.errors import ConfigError, ScenarioError
from lunar_hil.emulator.sim.params import LanderParams
from lunar_hil.emulator.sim.scenario import list_scenarios, load_scenario

SHIPPED = ["descent", "descent-lrf-anomaly", "lunar-night", "relay-deployment", "surface-nominal"]


def test_shipped_scenarios_listed_and_load() -> None:
    assert set(SHIPPED) <= set(list_scenarios())
    for name in list_scenarios():
        scenario = load_scenario(name)
        assert scenario.name == name
        assert scenario.duration_s > 0
        assert scenario.phase in ("cruise", "descent", "surface")


def test_load_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nphase: surface\nduration_s: 600\nstart_local_time_h: 9\n"
        "faults:\n  - heater_stuck_on@60\n"
        "  - {kind: sensor_dropout, at_s: 5, duration_s: 10, params: {sensor: imu}}\n"
    )
    scenario = load_scenario(str(path))
    assert [f.kind for f in scenario.faults] == ["heater_stuck_on", "sensor_dropout"]
    assert scenario.faults[1].duration_s == 10.0


BAD = [
    ("name: x\nphase: orbit\nduration_s: 10\n", "phase: must be one of"),
    ("name: x\nphase: surface\n", "duration_s: missing"),
    ("name: x\nphase: surface\nduration_s: -1\n", "duration_s: must be > 0"),
    ("name: x\nphase: surface\nduration_s: ten\n", "duration_s: must be a number"),
    ("name: x\nphase: surface\nduration_s: 10\nwarp: 9\n", "warp: unknown field"),
    ("name: x\nphase: surface\nduration_s: 10\nstart_local_time_h: 25\n", "start_local_time_h"),
    ("name: x\nphase: surface\nduration_s: 10\nsolar_declination_deg: 5\n", "±1.54"),
    ("name: x\nphase: surface\nduration_s: 10\nfaults: [warp@3]\n", "faults[0]: "),
    ("name: x\nphase: surface\nduration_s: 10\nfaults: [{kind: heater_stuck_on}]\n",
     "faults[0]: needs kind and at_s"),
    ("name: x\nphase: surface\nduration_s: 10\nrelay_deploy_s: [-4]\n", "relay_deploy_s[0]"),
    ("- just\n- a list\n", "must be a mapping"),
    ("name: [unclosed\n", "line "),
]


@pytest.mark.parametrize(("text", "words"), BAD)
def test_bad_scenario_files(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert words in message


def test_missing_scenario_names_the_choices() -> None:
    with pytest.raises(ScenarioError, match="lunar-night"):
        load_scenario("no-such-scenario")


def test_params_from_mapping_rejects_unknown_and_bad_types() -> None:
    params = LanderParams.from_mapping(
        {"battery_capacity_wh": 5000, "mli": False,
         "instruments": [{"id": "gpr", "data_rate_bps": 1000, "duty": 0.5}]}
    )
    assert params.battery_capacity_wh == 5000.0 and params.instruments[0].id == "gpr"
    with pytest.raises(ConfigError, match="'batery_capacity_wh': unknown key"):
        LanderParams.from_mapping({"batery_capacity_wh": 5000})
    with pytest.raises(ConfigError, match="dry_mass_kg: must be a number"):
        LanderParams.from_mapping({"dry_mass_kg": "heavy"})
    with pytest.raises(ConfigError, match="battery_capacity_wh: must be > 0"):
        LanderParams.from_mapping({"battery_capacity_wh": 0})
    with pytest.raises(ConfigError, match=r"instruments\[0\]"):
        LanderParams.from_mapping({"instruments": [{"id": "GPR"}]})

"""Telecommands in the sim: heater, mode and instrument overrides, counters, errors."""

from __future__ import annotations

import numpy as np
import pytest

from lunar_hil.emulator.binding import lander_params
from lunar_hil.emulator.errors import CommandError
from lunar_hil.emulator.sim.scenario import Scenario
from lunar_hil.emulator.sim.simulation import LanderSimulation, Mode
from lunar_hil.profiles.loader import list_profiles, load_profile

REQUIRED = {"HEATER_ON", "HEATER_OFF", "SET_MODE", "SET_BAND", "INSTRUMENT_START",
            "INSTRUMENT_STOP", "BOARD_REBOOT", "RECORDER_DUMP", "TIME_CORRELATE"}


def day_sim(profile_id: str = "lupex") -> LanderSimulation:
    params = lander_params(load_profile(profile_id))
    return LanderSimulation(params, Scenario("cmd", "", 7200.0, "surface", 9.0))


def test_every_profile_has_the_command_set_and_a_cmd_accepted_channel() -> None:
    for profile in list_profiles():
        assert {c.name for c in profile.commands} >= REQUIRED, profile.id
        sources = {ch.source for a in profile.apids for ch in a.channels}
        assert "cmd.accepted" in sources, profile.id


def test_heater_on_overrides_the_thermostat_from_its_time_on() -> None:
    sim = day_sim()
    sim.execute_command(600.0, "HEATER_ON", {})
    v = sim.advance(1800.0).values
    t = v["time.mission_elapsed_s"]
    assert v["thermal.heater_on"][t < 600.0].max() == 0.0  # warm morning deck: thermostat off
    assert v["thermal.heater_on"][t >= 600.0].min() == 1.0
    assert v["cmd.accepted"][t < 600.0].max() == 0.0 and v["cmd.accepted"][-1] == 1.0
    assert v["cmd.last_opcode"][-1] == 0x10


def test_set_mode_safe_and_back_to_autonomous() -> None:
    sim = day_sim()
    sim.execute_command(300.0, "SET_MODE", {"mode": 4})
    sim.execute_command(900.0, "SET_MODE", {"mode": 0})
    v = sim.advance(1800.0).values
    t = v["time.mission_elapsed_s"]
    assert set(v["mode.lander"][(t >= 300.0) & (t < 900.0)]) == {float(Mode.SAFE)}
    assert set(v["mode.lander"][t >= 900.0]) == {float(Mode.DAY)}
    assert v["cmd.accepted"][-1] == 2.0


def test_instrument_start_and_stop() -> None:
    sim = day_sim()
    inst = sim.params.instruments[0]
    sim.execute_command(600.0, "INSTRUMENT_STOP", {"instrument": 0})
    sim.execute_command(1200.0, "INSTRUMENT_START", {"instrument": 0})
    v = sim.advance(1800.0).values
    t = v["time.mission_elapsed_s"]
    on = v[f"payload.{inst.id}.on"]
    assert on[(t >= 600.0) & (t < 1200.0)].max() == 0.0
    assert on[t >= 1200.0].min() == 1.0


def test_commands_outside_the_sim_are_only_counted() -> None:
    sim = day_sim()
    ref = day_sim().advance(1800.0).values
    for name, args in (("SET_BAND", {"band": 1}), ("RECORDER_DUMP", {"from_met_s": 0}),
                       ("TIME_CORRELATE", {}), ("BOARD_REBOOT", {"board": 2})):
        sim.execute_command(100.0, name, args)
    v = sim.advance(1800.0).values
    assert v["cmd.accepted"][-1] == 4.0
    for key in ("power.load_w", "thermal.avionics_c", "mode.lander"):
        np.testing.assert_array_equal(v[key], ref[key])


@pytest.mark.parametrize(("name", "args"), [
    ("NO_SUCH_COMMAND", {}),
    ("SET_MODE", {}),
    ("SET_MODE", {"mode": 9}),
    ("SET_MODE", {"mode": 1}),
    ("SET_MODE", {"mode": 2.5}),
    ("HEATER_ON", {"extra": 1}),
    ("INSTRUMENT_START", {"instrument": 15}),
    ("SET_BAND", {"band": float("nan")}),
])
def test_bad_commands_raise_and_count(name: str, args: dict[str, float]) -> None:
    sim = day_sim()
    with pytest.raises(CommandError, match=name.split("_")[0]):
        sim.execute_command(10.0, name, args)
    v = sim.advance(600.0).values
    assert v["cmd.rejected"][-1] == 1.0 and v["cmd.accepted"][-1] == 0.0

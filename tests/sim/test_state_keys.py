"""One contract for the state keys: the sim produces exactly the canonical set."""

from __future__ import annotations

import re

from lunar_hil.emulator.binding import lander_params
from lunar_hil.emulator.sim.scenario import load_scenario
from lunar_hil.emulator.sim.simulation import LanderSimulation
from lunar_hil.emulator.state_keys import INSTRUMENT_STATE_KEY, STATE_KEYS
from lunar_hil.profiles.loader import list_profiles, load_profile
from lunar_hil.profiles.schema import CANONICAL_STATE_KEYS


def test_sim_produces_exactly_the_canonical_keys() -> None:
    profile = load_profile("lupex")
    sim = LanderSimulation(lander_params(profile), load_scenario("surface-nominal"))
    block = sim.advance(600.0)
    produced = set(block.values)
    instrument_keys = {k for k in produced if INSTRUMENT_STATE_KEY.fullmatch(k)}
    assert len(instrument_keys) == 2 * len(profile.instruments) > 0
    assert produced - instrument_keys == CANONICAL_STATE_KEYS == set(STATE_KEYS)
    # The seven keys the profile schema used to lack are among them.
    for key in ("sensor.lrf_ok", "sensor.imu_ok", "sensor.thermal_ok", "gnc.downrange_m",
                "power.battery_w", "power.battery_capacity_wh", "relays.deployed"):
        assert key in CANONICAL_STATE_KEYS


def test_every_profile_channel_samples_a_produced_key() -> None:
    sim_keys = set(STATE_KEYS)
    for profile in list_profiles():
        ids = {i.id for i in profile.instruments}
        for apid in profile.apids:
            for ch in apid.channels:
                m = INSTRUMENT_STATE_KEY.fullmatch(ch.source)
                assert ch.source in sim_keys or (m is not None and m.group(1) in ids), ch.source


def test_state_keys_module_is_a_leaf() -> None:
    import lunar_hil.emulator.state_keys as mod

    with open(mod.__file__, encoding="utf-8") as f:
        source = f.read()
    assert not re.search(r"^\s*(from \.|from lunar_hil|import lunar_hil)", source, re.M)

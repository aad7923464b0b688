"""Determinism, block splits and StateBlock sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.emulator.errors import LocalProtocolError
from lunar_hil.emulator.sim.faults import parse_fault_spec
from lunar_hil.emulator.sim.params import PRESETS, InstrumentParams
from lunar_hil.emulator.sim.scenario import load_scenario
from lunar_hil.emulator.sim.simulation import (
    STATE_KEYS,
    LanderSimulation,
    StateBlock,
    is_discrete_key,
)

from .runs import run, run_preset

LUPEX_LIKE = PRESETS["generic-heater"].replace(
    instruments=(InstrumentParams("gpr", "GPR", 20000.0, 0.5), InstrumentParams("ns", "NS", 500.0)),
    has_drill=True, has_rover=True,
)


def join(blocks: list[StateBlock]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Concatenate blocks, dropping the rows a block shares with the previous one."""
    times: list[np.ndarray] = []
    values: dict[str, list[np.ndarray]] = {k: [] for k in blocks[0].values}
    last = -np.inf
    for block in blocks:
        keep = block.t > last
        times.append(block.t[keep])
        for key, column in block.values.items():
            values[key].append(column[keep])
        if len(block.t):
            last = max(last, block.t[-1])
    return np.concatenate(times), {k: np.concatenate(v) for k, v in values.items()}


def test_every_canonical_key_is_produced() -> None:
    for name in ("descent", "lunar-night", "relay-deployment"):
        block = run_preset("generic-heater", name)
        assert set(STATE_KEYS) <= set(block.values)
        for key in STATE_KEYS:
            column = block.values[key]
            assert column.shape == block.t.shape and column.dtype == np.float64
            assert np.all(np.isfinite(column)), key
        assert np.all(np.diff(block.t) > 0)


def test_same_seed_same_arrays_different_seed_different_noise() -> None:
    a = run(PRESETS["generic-heater"], "descent-lrf-anomaly", seed=7)
    b = run(PRESETS["generic-heater"], "descent-lrf-anomaly", seed=7)
    c = run(PRESETS["generic-heater"], "descent-lrf-anomaly", seed=8)
    np.testing.assert_array_equal(a.t, b.t)
    for key in a.values:
        np.testing.assert_array_equal(a.values[key], b.values[key])
    assert a.events == b.events
    assert not np.array_equal(a.values["gnc.lrf_range_m"][:100], c.values["gnc.lrf_range_m"][:100])


@settings(max_examples=15, deadline=None)
@given(
    st.sampled_from(["descent-lrf-anomaly", "surface-nominal", "relay-deployment"]),
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12),
)
def test_block_splits_give_identical_arrays(name: str, cuts: list[float]) -> None:
    scenario = load_scenario(name)
    params = LUPEX_LIKE
    whole = LanderSimulation(params, scenario, seed=5).advance(scenario.duration_s)
    sim = LanderSimulation(params, scenario, seed=5)
    ends = [*sorted(c * scenario.duration_s for c in cuts), scenario.duration_s]
    blocks = []
    for end in ends:
        start = sim.time_s
        block = sim.advance(end)
        assert block.t[0] <= start and block.t[-1] >= end  # covers the span asked for
        blocks.append(block)
    t, values = join(blocks)
    np.testing.assert_array_equal(t, whole.t)
    for key in whole.values:
        np.testing.assert_array_equal(values[key], whole.values[key], err_msg=key)
    assert tuple(e for b in blocks for e in b.events) == whole.events


def test_block_covers_its_span_and_advance_cannot_go_back() -> None:
    scenario = load_scenario("surface-nominal")
    sim = LanderSimulation(PRESETS["generic-heater"], scenario)
    first = sim.advance(125.0)
    second = sim.advance(1000.5)
    assert first.t[0] == 0.0 and first.t[-1] >= 125.0
    assert second.t[0] <= 125.0 and second.t[-1] >= 1000.5
    assert sim.time_s == 1000.5
    with pytest.raises(LocalProtocolError):
        sim.advance(10.0)


def test_sample_interpolates_continuous_and_holds_discrete() -> None:
    t = np.array([0.0, 10.0, 20.0])
    block = StateBlock(
        t,
        {"power.solar_w": np.array([0.0, 100.0, 50.0]),
         "mode.lander": np.array([2.0, 3.0, 4.0]),
         "payload.gpr.on": np.array([0.0, 1.0, 0.0])},
        (),
    )
    out = block.sample(["power.solar_w", "mode.lander", "payload.gpr.on"],
                       np.array([-1.0, 0.0, 5.0, 10.0, 15.0, 25.0]))
    np.testing.assert_array_equal(out["power.solar_w"], [0.0, 0.0, 50.0, 100.0, 75.0, 50.0])
    np.testing.assert_array_equal(out["mode.lander"], [2.0, 2.0, 2.0, 3.0, 3.0, 4.0])
    np.testing.assert_array_equal(out["payload.gpr.on"], [0.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    assert is_discrete_key("gnc.phase") and not is_discrete_key("gnc.altitude_m")
    with pytest.raises(LocalProtocolError, match=r"no\.such"):
        block.sample(["no.such"], np.array([1.0]))


def test_payload_rover_and_drill_on_a_lupex_like_lander() -> None:
    scenario = load_scenario("surface-nominal")
    sim = LanderSimulation(LUPEX_LIKE, scenario)
    v = sim.advance(scenario.duration_s).values
    assert "payload.gpr.on" in sim.state_keys and "payload.ns.data_rate_bps" in sim.state_keys
    assert 0.3 < v["payload.gpr.on"].mean() < 0.7  # duty 0.5
    rate = v["payload.gpr.data_rate_bps"] + v["payload.ns.data_rate_bps"]
    np.testing.assert_array_equal(v["payload.data_rate_bps"], rate)
    volume = np.concatenate([[0.0], np.cumsum(rate[:-1] / 8.0 * np.diff(v["time.mission_elapsed_s"]))])
    np.testing.assert_allclose(v["payload.data_volume_bytes"], volume, rtol=1e-12)
    assert 0.0 < v["payload.drill_depth_m"][-1] <= 1.5
    assert np.all(np.diff(v["payload.drill_depth_m"]) >= 0)
    assert v["rover.deployed"][-1] == 1.0 and v["rover.distance_m"][-1] > 0.0


def test_cli_faults_and_scenario_faults_add_up() -> None:
    scenario = load_scenario("surface-nominal")
    sim = LanderSimulation(PRESETS["generic-heater"], scenario,
                           faults=[parse_fault_spec("sensor_dropout@600:sensor=thermal,duration=600"),
                                   parse_fault_spec("heater_stuck_on@60")])
    v = sim.advance(3000.0).values
    t = v["time.mission_elapsed_s"]
    assert v["fault.count"][t == 60.0][0] == 1.0
    assert v["fault.count"][t == 600.0][0] == 2.0
    assert v["fault.count"][t == 1200.0][0] == 1.0
    assert np.all(v["sensor.thermal_ok"][(t >= 600) & (t < 1200)] == 0.0)
    assert np.all(v["thermal.heater_on"][t >= 60] == 1.0)

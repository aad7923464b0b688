"""Issue 7: the shipped profiles against figures computed by hand in each test.

Night thermal balance and heater duty, array power by the cosine law, the
rocket equation over every profile's nominal descent, the HAKUTO-R Mission 1
replay and the same fault on APEX 1.0, LUPEX's night, rover and drill.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np
import pytest

from lunar_hil.emulator.sim.params import LanderParams
from lunar_hil.emulator.sim.scenario import load_scenario
from lunar_hil.emulator.sim.simulation import LanderSimulation, StateBlock
from lunar_hil.profiles.loader import load_profile, shipped_ids

G_MOON = 1.62
G0 = 9.80665
KELVIN = 273.15


def params_of(profile_id: str) -> LanderParams:
    return LanderParams.from_mapping(load_profile(profile_id).sim_parameters())


@cache
def flown(profile_id: str, scenario: str) -> tuple[LanderSimulation, StateBlock]:
    sc = load_scenario(scenario)
    sim = LanderSimulation(params_of(profile_id), sc, seed=0)
    return sim, sim.advance(sc.duration_s)


def kinds(block: StateBlock) -> list[str]:
    return [str(e.kind) for e in block.events]


def event_t(block: StateBlock, kind: str) -> float:
    return next(e.t_s for e in block.events if e.kind == kind)


def night_window(block: StateBlock) -> tuple[int, int]:
    """Rows from sunset to the following sunrise."""
    dark = block.values["sun.elevation_deg"] <= 0.0
    start = int(np.flatnonzero(dark)[0])
    after = np.flatnonzero(~dark[start:])
    assert len(after), "no sunrise in the scenario"
    return start, start + int(after[0])


# ------------------------------------------------------------------ night
def test_series3_heaters_hold_the_deck_through_the_night() -> None:
    p = params_of("series-3")
    _, block = flown("series-3", "lunar-night")
    v = block.values
    start, end = night_window(block)
    assert (block.t[end] - block.t[start]) / 86400.0 > 13.5  # a whole polar night
    heater = v["thermal.heater_on"][start:end]
    first_on = start + int(np.flatnonzero(heater)[0])
    regulated = slice(first_on, end)
    duty = float(v["thermal.heater_on"][regulated].mean())
    assert 0.10 <= duty <= 0.60, duty
    deck = v["thermal.avionics_c"][regulated]
    assert np.all(np.abs(deck - p.heater_setpoint_c) <= 5.0)
    # Heaters on battery all night, and the battery is never at its floor.
    assert v["power.shed_w"][start:end].max() == 0.0
    assert v["mode.lander"][start:end].max() < 4.0  # never safe or dead
    # By hand: while regulated the heater makes up the leak the 20 W of
    # survival electronics do not cover (deck, battery, propulsion leaks
    # against the T^4-mixed sink).
    surface_k = v["thermal.surface_c"][regulated] + KELVIN
    sink = (0.5 * surface_k**4 + 0.5 * 3.0**4) ** 0.25 - KELVIN
    g = p.conductance_w_per_k
    leak = (g * (deck - sink) + 0.2 * g * (v["thermal.battery_c"][regulated] - sink)
            + 0.25 * g * (v["thermal.propulsion_c"][regulated] - sink))
    expected_duty = (leak.mean() - p.load_night_w) / p.heater_power_w
    assert duty == pytest.approx(expected_duty, abs=0.03)


@pytest.mark.parametrize("profile_id", ["series-3", "lupex"])
def test_night_energy_heater_and_electronics_heat_equal_the_leak(profile_id: str) -> None:
    """Over the ~14-day night: heater + electronics heat (+ battery losses) =
    the conductive leak integrated over the temperature difference + the heat
    the nodes lost, within 2 %."""
    p = params_of(profile_id)
    _, block = flown(profile_id, "lunar-night")
    v, t = block.values, block.t
    sunset, b = night_window(block)
    # From when the louvres have shut (deck below 15 degC): no radiator flow after.
    a = sunset + int(np.flatnonzero(v["thermal.avionics_c"][sunset:] < 15.0)[0])
    dt = np.diff(t[a:b + 1])
    assert dt.sum() / 86400.0 > 13.0

    def integral(x: np.ndarray) -> float:  # left-point rule: row k holds over [t_k, t_k+1)
        return float(np.sum(x[a:b] * dt))

    heater_j = integral(v["power.heater_w"])
    electronics_j = integral(v["power.load_w"] - v["power.heater_w"])
    batt_w = v["power.battery_w"]
    loss_w = np.where(batt_w > 0, batt_w * (1 - p.battery_charge_efficiency),
                      -batt_w * (1 / p.battery_discharge_efficiency - 1))
    loss_j = integral(loss_w)
    assert v["power.shed_w"][a:b].max() == 0.0
    assert v["thermal.avionics_c"][a:b].max() < 15.0  # louvres shut: no radiator flow
    surface_k = v["thermal.surface_c"] + KELVIN
    sink = (0.5 * surface_k**4 + 0.5 * 3.0**4) ** 0.25 - KELVIN  # body sees half regolith
    g = p.conductance_w_per_k
    leak_j = integral(g * (v["thermal.avionics_c"] - sink)
                      + 0.2 * g * (v["thermal.battery_c"] - sink)
                      + 0.25 * g * (v["thermal.propulsion_c"] - sink))
    battery_c_j_per_k = p.battery_capacity_wh / 150.0 * 1000.0  # 150 Wh/kg, 1 kJ/(kg K)
    stored_j = sum(
        c * (v[key][b] - v[key][a]) for key, c in (
            ("thermal.avionics_c", p.thermal_capacity_j_per_k),
            ("thermal.battery_c", battery_c_j_per_k),
            ("thermal.propulsion_c", 5.0e4)))
    heat_in = heater_j + electronics_j + loss_j
    assert heater_j > 0.2 * heat_in  # the heaters do a real part of the work
    assert heat_in == pytest.approx(leak_j + stored_j, rel=0.02)


def test_night_per_profile_matches_its_thermal_design() -> None:
    # APEX 1.0: the RPS covers the night leak (no heater, deck warm, battery full).
    _, apex = flown("apex-1.0", "lunar-night")
    a, b = night_window(apex)
    va = apex.values
    assert va["thermal.heater_on"][a:b].max() == 0.0
    assert va["thermal.avionics_c"][a:b].min() > 0.0
    assert va["thermal.battery_c"][a:b].min() > -20.0
    assert va["power.battery_soc"][a:b].min() > 0.9
    # By hand: 1.2 kW of RPS heat into the deck, 150 We against a 120 W load.
    p = params_of("apex-1.0")
    assert p.rps_thermal_w * p.rps_heat_coupling > 10 * p.conductance_w_per_k * 200.0 / 2
    # LUPEX survives the night on its battery (seed 002: night survival).
    _, lupex = flown("lupex", "lunar-night")
    lv = lupex.values
    a, b = night_window(lupex)
    assert "bus_dead" not in kinds(lupex) and "load_shed" not in kinds(lupex)
    assert lv["thermal.battery_c"][a:b].min() > -20.0
    assert lv["power.battery_soc"][b] > 0.3
    # Landers without a night design (no RPS, small battery) die in it.
    for pid in ("series-2", "hakuto-r-m1"):
        _, block = flown(pid, "lunar-night")
        assert "bus_dead" in kinds(block)


# ------------------------------------------------------------------ power
@pytest.mark.parametrize("profile_id", ["apex-1.0", "hakuto-r-m1"])
def test_array_power_is_the_cosine_law(profile_id: str) -> None:
    p = params_of(profile_id)
    _, block = flown(profile_id, "surface-nominal")
    v = block.values
    el = v["sun.elevation_deg"]
    lit = el > 0
    assert lit.sum() > 100
    # Panel normal tilt_deg from the zenith... i.e. at elevation 90 - tilt in the
    # Sun's azimuth: incidence = (90 - tilt) - elevation.
    incidence = np.radians(90.0 - p.solar_array_tilt_deg - el[lit])
    np.testing.assert_allclose(v["power.solar_w"][lit],
                               p.solar_array_peak_w * np.cos(incidence), rtol=1e-9)
    assert np.all(v["power.solar_w"][~lit] == 0.0)


def test_polar_arrays_give_nearly_full_power_with_a_low_sun() -> None:
    # Issue 7: panels lying nearly flat at 85 S gave ~300 W of 3000 W at 5 deg.
    # A vertical array: 3000 W x cos(5 deg) = 2988.6 W.
    from lunar_hil.emulator.sim.models.power import solar_array_w

    assert solar_array_w(3000.0, 5.0, 90.0, 0.0) == pytest.approx(2988.58, abs=0.01)
    assert solar_array_w(3000.0, 5.0, 47.0, 0.0) == pytest.approx(3000 * math.cos(math.radians(38.0)))
    assert solar_array_w(3000.0, 5.0, 0.0, 0.0, sun_tracking=True) == 3000.0
    for pid in ("apex-1.0", "series-3", "series-2", "lupex"):
        assert params_of(pid).solar_array_tilt_deg == 90.0  # polar sites: vertical
    _, block = flown("series-3", "surface-nominal")
    lit = block.values["sun.elevation_deg"] > 0
    assert block.values["power.solar_w"][lit].min() > 0.9 * 3000.0


# ------------------------------------------------------------------ descent
@pytest.mark.parametrize("profile_id", shipped_ids())
def test_nominal_descent_follows_the_rocket_equation_and_lands(profile_id: str) -> None:
    profile = load_profile(profile_id)
    p = params_of(profile_id)
    _, block = flown(profile_id, "descent")
    v = block.values
    assert "touchdown" in kinds(block) and "crash" not in kinds(block)
    flying = np.flatnonzero(v["gnc.phase"] < 4)
    assert -v["gnc.vertical_velocity_mps"][flying[-1]] <= 3.0
    # Descent starts with the mass left after cruise and LOI: wet * exp(-dv / (Isp g0)).
    ve = p.main_engine_isp_s * G0
    dv_pre = profile.propulsion.pre_descent_delta_v_mps
    assert dv_pre is not None and dv_pre > 300.0
    landed = p.dry_mass_kg + p.payload_mass_kg + p.rover_mass_kg
    m0 = profile.physical.wet_mass_kg * math.exp(-dv_pre / ve)
    assert landed + v["gnc.propellant_kg"][0] == pytest.approx(m0, rel=1e-9)
    # Delta-v flown = sum of thrust / mass; propellant by Tsiolkovsky.
    mass = landed + v["gnc.propellant_kg"][flying]
    dv = float(np.sum(v["gnc.thrust_n"][flying] / mass * p.descent_step_s))
    assert 1600.0 < dv < 2400.0  # from 15 km and ~1.67 km/s
    used = v["gnc.propellant_kg"][0] - v["gnc.propellant_kg"][-1]
    assert used == pytest.approx(m0 * (1.0 - math.exp(-dv / ve)), rel=0.05)
    # A plausible reserve: a few percent of the propellant at descent start.
    reserve = v["gnc.propellant_kg"][-1] / v["gnc.propellant_kg"][0]
    assert 0.02 <= reserve <= 0.08, reserve


def test_mission_1_replay_is_the_accident_in_order() -> None:
    sim, block = flown("hakuto-r-m1", "descent-lrf-anomaly")
    v, t = block.values, block.t
    order = ["fault_injected", "lrf_rejected", "horizontal_nulled", "estimate_zero",
             "propellant_depleted", "crash"]
    times = [event_t(block, k) for k in order]
    assert times == sorted(times)
    rim_t, rejected_t, _, zero_t, empty_t, crash_t = times
    before = np.flatnonzero(t < rim_t)[-1]
    assert 2800.0 < v["gnc.altitude_m"][before + 1] - v["gnc.altitude_m"][before] < 3200.0
    assert rejected_t - rim_t < 2.0
    i_zero = int(np.searchsorted(t, zero_t))
    assert 4000.0 <= v["gnc.altitude_m"][i_zero] <= 6000.0
    # Upright and slow between the estimate at 0 m and the empty tanks: 1-2 m/s down.
    slow = (t >= zero_t) & (t < empty_t)
    assert empty_t - zero_t > 30.0
    assert np.all(np.abs(v["gnc.vertical_velocity_mps"][slow] + 1.5) <= 0.5)
    assert v["gnc.horizontal_velocity_mps"][slow].max() < 1.0
    assert np.all(np.abs(v["gnc.pitch_deg"][slow]) < 2.0)
    # Free fall from the height where the propellant ran out, by hand.
    i_empty = int(np.searchsorted(t, empty_t))
    h = v["gnc.altitude_m"][i_empty]
    v0 = -v["gnc.vertical_velocity_mps"][i_empty]
    assert 4000.0 < h < 6000.0
    impact = math.sqrt(v0**2 + 2 * G_MOON * h)  # ~125 m/s from ~5 km
    fall_s = (-v0 + math.sqrt(v0**2 + 2 * G_MOON * h)) / G_MOON
    assert 100.0 <= impact <= 150.0
    assert crash_t - empty_t == pytest.approx(fall_s, abs=1.0)
    msg = next(e.message for e in block.events if e.kind == "crash")
    assert f"{impact:.0f} m/s" in msg or f"{impact - 1:.0f} m/s" in msg or f"{impact + 1:.0f} m/s" in msg
    assert sim.lost_at_s == crash_t
    # Dated: the estimate reaches 0 m at the planned touchdown, 25 April 2023 ~16:40 UTC.
    assert sim.start_utc == datetime(2023, 4, 25, 16, 31, 15, tzinfo=UTC)
    planned = datetime(2023, 4, 25, 16, 40, tzinfo=UTC)
    assert abs(sim.utc_at(zero_t) - planned) < timedelta(minutes=1)
    assert planned < sim.utc_at(crash_t) < planned + timedelta(minutes=5)


def test_mission_1_nominal_descent_lands() -> None:
    _, block = flown("hakuto-r-m1", "descent")
    assert "touchdown" in kinds(block) and "crash" not in kinds(block)


@pytest.mark.parametrize("profile_id", ["apex-1.0", "series-3"])
def test_same_fault_on_apex_platform_lands(profile_id: str) -> None:
    assert params_of(profile_id).lrf_terrain_aware_gate
    _, block = flown(profile_id, "descent-lrf-anomaly")
    k = kinds(block)
    assert "fault_injected" in k and "lrf_reacquired" in k
    assert "lrf_rejected" not in k and "crash" not in k and "touchdown" in k
    v = block.values
    flying = np.flatnonzero(v["gnc.phase"] < 4)
    assert -v["gnc.vertical_velocity_mps"][flying[-1]] <= 3.0


# ------------------------------------------------------------------ LUPEX rover and drill
def test_lupex_rover_and_drill_reach_the_sim() -> None:
    p = params_of("lupex")
    assert p.has_rover and p.has_drill and p.drill_max_depth_m == 1.5
    _, block = flown("lupex", "surface-nominal")
    v = block.values
    assert "rover_deployed" in kinds(block)
    assert v["rover.deployed"][0] == 0.0 and v["rover.deployed"][-1] == 1.0
    assert v["rover.distance_m"][-1] > 0.0
    depth = v["payload.drill_depth_m"]
    assert depth[0] == 0.0 and 0.0 < depth[-1] <= 1.5
    assert np.all(np.diff(depth) >= 0.0)

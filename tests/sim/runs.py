"""Shared, cached simulation runs for the sim tests (each full run once per session)."""

from __future__ import annotations

from functools import cache

from lunar_hil.emulator.sim.faults import parse_fault_spec
from lunar_hil.emulator.sim.params import PRESETS, LanderParams
from lunar_hil.emulator.sim.scenario import load_scenario
from lunar_hil.emulator.sim.simulation import LanderSimulation, StateBlock


def run(params: LanderParams, scenario_name: str, *faults: str, seed: int = 0) -> StateBlock:
    """One block over the whole scenario."""
    scenario = load_scenario(scenario_name)
    sim = LanderSimulation(
        params, scenario, seed=seed, faults=[parse_fault_spec(f) for f in faults]
    )
    return sim.advance(scenario.duration_s)


@cache
def run_preset(preset: str, scenario_name: str, *faults: str, seed: int = 0) -> StateBlock:
    """Cached :func:`run` with a named parameter preset."""
    return run(PRESETS[preset], scenario_name, *faults, seed=seed)

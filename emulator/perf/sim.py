"""Speed of the lander simulation (medians, wall seconds).

``measure(quick)`` runs ``LanderSimulation.advance`` over the shipped
``lunar-night`` scenario (both night-survival variants) and ``descent``, and
times sampling the night at 1 Hz (what housekeeping telemetry does). Budget from
the target: ``advance`` over a 14-day night <= 3 s on a 2-core machine.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..sim.params import PRESETS
from ..sim.scenario import load_scenario
from ..sim.simulation import LanderSimulation, StateBlock
from . import median_seconds

#: Keys sampled in the 1 Hz measurement: a typical housekeeping packet.
_HK_KEYS = (
    "power.battery_soc", "power.solar_w", "power.load_w", "power.battery_voltage_v",
    "thermal.avionics_c", "thermal.battery_c", "thermal.heater_on", "mode.lander",
    "comms.link_up", "fault.count",
)


def _run(preset: str, scenario_name: str, block_s: float | None = None) -> StateBlock:
    scenario = load_scenario(scenario_name)
    sim = LanderSimulation(PRESETS[preset], scenario, seed=0)
    if block_s is None:
        return sim.advance(scenario.duration_s)
    block = sim.advance(0.0)
    t = 0.0
    while t < scenario.duration_s:
        t = min(scenario.duration_s, t + block_s)
        block = sim.advance(t)
    return block


def measure(quick: bool = False) -> dict[str, float]:
    """Median wall seconds of: the lunar night per variant (scaled to 14 days),
    the same in 1-hour blocks, the descent, and 1 Hz sampling of 10 keys."""
    repeats = 3 if quick else 5
    night = load_scenario("lunar-night")
    per_14_days = 14 * 86400.0 / night.duration_s
    result: dict[str, float] = {}
    for preset, label in (("generic-heater", "heater"), ("generic-rps", "rps")):
        seconds = median_seconds(partial(_run, preset, "lunar-night"), repeats, warmup=False)
        result[f"sim_lunar_night_14d_{label}_s"] = seconds * per_14_days
    result["sim_lunar_night_14d_1h_blocks_s"] = per_14_days * median_seconds(
        lambda: _run("generic-heater", "lunar-night", 3600.0), 1 if quick else 3, warmup=False
    )
    result["sim_descent_s"] = median_seconds(
        lambda: _run("generic-heater", "descent"), repeats, warmup=False
    )
    block = _run("generic-heater", "lunar-night")
    times = np.arange(0.0, 14 * 86400.0, 1.0)
    result["sim_sample_14d_1hz_10keys_s"] = median_seconds(
        lambda: block.sample(_HK_KEYS, times), repeats, warmup=False
    )
    return result

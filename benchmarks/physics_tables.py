"""Physics tables of the shipped profiles: the lunar night, the nominal descent
and the HAKUTO-R Mission 1 replay (issue 7's closing-note tables).

Usage (from the repo root): python benchmarks/physics_tables.py [--json]

Every figure comes from the simulation itself (``LanderSimulation`` with
``lander_params(profile)`` and ``load_scenario(...)``), not from telemetry:

* night (scenario ``lunar-night``): min deck (avionics node) and battery
  temperature while the Sun is down, heater duty over the night (fraction of
  night steps with the heater on), the heater energy, the SOC at dawn (first
  step with the Sun back above the horizon) and the bus-dead time if any;
* descent (scenario ``descent``): propellant used, the delta-v flown (thrust /
  mass integrated over the steps), the rocket equation's propellant for that
  delta-v (``m0 (1 - exp(-dv / (Isp g0)))``) and its ratio to the used one,
  touchdown vertical speed and the propellant reserve left, in % of the
  propellant at powered-descent start;
* the M1 replay (scenario ``descent-lrf-anomaly``) event times in sim time and
  UTC from the scenario epoch, next to the public timeline of
  ``REFERENCE.md`` (planned touchdown about 16:40 UTC, contact lost just after
  it); APEX 1.0 with the same fault (its terrain-aware gate re-acquires the
  sensor and lands). The last packet is the last one ``lunar-hil run``
  actually writes (run + ``decode --params-out``; CUC times are TAI).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from lunar_hil.emulator.binding import lander_params
from lunar_hil.emulator.sim.scenario import load_scenario
from lunar_hil.emulator.sim.simulation import EventKind, LanderSimulation, Mode
from lunar_hil.profiles.loader import load_profile

PROFILES = ("apex-1.0", "series-3", "series-2", "hakuto-r-m1", "lupex")
G0 = 9.80665
#: CCSDS 301.0 level-1 epoch (TAI) and TAI-UTC since 2017 (37 s).
CUC_EPOCH = datetime(1958, 1, 1, tzinfo=UTC)
TAI_MINUS_UTC_S = 37.0
#: The public timeline (REFERENCE.md, "HAKUTO-R Mission 1 (Apr 2023)").
M1_PUBLIC = {
    "planned_touchdown_utc": "2023-04-25 ~16:40",
    "loss_of_signal": "just after the planned touchdown",
    "true_altitude_at_estimate_zero_m": "about 5000",
    "impact_mps": "about 125",
    "descent_rate_before_exhaustion_mps": "about 1-2",
}
_KEYS = (
    "sun.elevation_deg", "thermal.avionics_c", "thermal.battery_c", "thermal.heater_on",
    "power.heater_w", "power.battery_soc", "mode.lander",
)
_GNC = ("gnc.altitude_m", "gnc.altitude_estimate_m", "gnc.vertical_velocity_mps",
        "gnc.horizontal_velocity_mps", "gnc.propellant_kg", "gnc.thrust_n")


def _run(profile_id: str, scenario: str) -> tuple[LanderSimulation, Any]:
    params = lander_params(load_profile(profile_id))
    sim = LanderSimulation(params, load_scenario(scenario))
    block = sim.advance(sim.scenario.duration_s)
    return sim, block


def night(profile_id: str) -> dict[str, Any]:
    """The lunar-night figures of one profile (see the module docstring)."""
    sim, b = _run(profile_id, "lunar-night")
    v = b.values
    t = b.t
    sun = v["sun.elevation_deg"]
    dark = sun < 0.0
    if not dark.any():
        raise RuntimeError(f"{profile_id}: no night in lunar-night")
    first = int(np.argmax(dark))
    after = np.nonzero((~dark) & (np.arange(len(t)) > first))[0]
    dawn = int(after[0]) if len(after) else len(t) - 1
    night_idx = slice(first, dawn)
    dt = np.diff(t, append=t[-1])
    heater_wh = float(np.sum(v["power.heater_w"][night_idx] * dt[night_idx]) / 3600.0)
    dead = [e.t_s for e in b.events if e.kind == EventKind.BUS_DEAD]
    dead_mode = np.nonzero(v["mode.lander"] == Mode.DEAD)[0]
    bus_dead_s = dead[0] if dead else (float(t[dead_mode[0]]) if len(dead_mode) else None)
    return {
        "profile": profile_id,
        "night_start_s": float(t[first]),
        "night_h": float(t[dawn] - t[first]) / 3600.0,
        "min_deck_c": float(np.min(v["thermal.avionics_c"][night_idx])),
        "min_battery_c": float(np.min(v["thermal.battery_c"][night_idx])),
        "heater_duty": float(np.sum(v["thermal.heater_on"][night_idx] * dt[night_idx])
                             / np.sum(dt[night_idx])),
        "heater_wh": heater_wh,
        "soc_at_dawn": float(v["power.battery_soc"][dawn]),
        "min_soc": float(np.min(v["power.battery_soc"][night_idx])),
        "bus_dead_s": bus_dead_s,
        "bus_dead_utc": None if bus_dead_s is None else sim.utc_at(bus_dead_s).isoformat(),
    }


def descent(profile_id: str) -> dict[str, Any]:
    """The nominal-descent figures of one profile (see the module docstring)."""
    sim, b = _run(profile_id, "descent")
    p = sim.params
    v = b.values
    t = b.t
    touch = next((e for e in b.events if e.kind in (EventKind.TOUCHDOWN, EventKind.CRASH)), None)
    end = len(t) if touch is None else int(np.searchsorted(t, touch.t_s, side="right"))
    prop = v["gnc.propellant_kg"][:end]
    thrust = v["gnc.thrust_n"][:end]
    dry = p.dry_mass_kg + p.payload_mass_kg + p.rover_mass_kg
    mass = dry + prop
    dt = np.diff(t[:end], append=t[end - 1])
    dv = float(np.sum(thrust / mass * dt))  # left-point rule, as the sim steps
    m0 = dry + p.propellant_kg
    used = p.propellant_kg - float(prop[-1])
    rocket = m0 * (1.0 - math.exp(-dv / (p.main_engine_isp_s * G0)))
    landing = None
    if touch is not None:
        i = max(0, int(np.searchsorted(t, touch.t_s)) - 1)
        landing = abs(float(v["gnc.vertical_velocity_mps"][i]))
    return {
        "profile": profile_id,
        "outcome": "none" if touch is None else str(touch.kind),
        "t_s": None if touch is None else touch.t_s,
        "start_mass_kg": m0,
        "propellant_start_kg": p.propellant_kg,
        "propellant_used_kg": used,
        "delta_v_mps": dv,
        "rocket_equation_kg": rocket,
        "used_over_rocket": used / rocket if rocket else float("nan"),
        "landing_speed_mps": landing,
        "touchdown_message": None if touch is None else touch.message,
        "reserve_pct": 100.0 * float(prop[-1]) / p.propellant_kg,
    }


def _last_packet_s(profile_id: str, scenario: str, start_utc: datetime) -> float | None:
    """Sim time of the last packet ``lunar-hil run`` writes (run, then decode)."""
    exe = Path(sys.executable).with_name("lunar-hil")
    with tempfile.TemporaryDirectory() as tmp:
        cadu, jsonl = Path(tmp, "run.cadu"), Path(tmp, "run.jsonl")
        subprocess.run([str(exe), "run", "--profile", profile_id, "--scenario", scenario,
                        "--speed", "max", "--out", f"file:{cadu}"], check=True, capture_output=True)
        subprocess.run([str(exe), "decode", "--profile", profile_id, str(cadu),
                        "--params-out", str(jsonl)], check=True, capture_output=True)
        last = None
        with jsonl.open() as f:
            for line in f:
                rec = json.loads(line)
                last = rec["time"] if last is None else max(last, rec["time"])
    if last is None:
        return None
    epoch_tai = (start_utc - CUC_EPOCH).total_seconds() + TAI_MINUS_UTC_S
    return float(last) - epoch_tai


def replay(profile_id: str) -> dict[str, Any]:
    """Event times of the crater-rim fault (descent-lrf-anomaly) on one profile."""
    sim, b = _run(profile_id, "descent-lrf-anomaly")
    v = b.values
    t = b.t

    def first(kind: EventKind) -> Any:
        return next((e for e in b.events if e.kind == kind), None)

    def at(t_s: float, key: str) -> float:
        return float(np.interp(t_s, t, v[key]))

    events: list[dict[str, Any]] = []

    def add(name: str, t_s: float | None, note: str = "") -> None:
        if t_s is None:
            events.append({"event": name, "t_s": None, "utc": None, "note": note or "does not happen"})
            return
        utc = sim.utc_at(t_s)
        events.append({"event": name, "t_s": round(t_s, 1),
                       "utc": utc.strftime("%H:%M:%S"), "note": note})

    jump = first(EventKind.FAULT_INJECTED)
    add("crater-rim jump (LRF +3 km)", jump and jump.t_s,
        jump and f"above terrain {at(jump.t_s + 0.5, 'gnc.altitude_m'):.0f} m, "
                 f"estimate {at(jump.t_s + 0.5, 'gnc.altitude_estimate_m'):.0f} m")
    rej = first(EventKind.LRF_REJECTED)
    add("sensor rejected", rej and rej.t_s, rej and rej.message)
    reacq = first(EventKind.LRF_REACQUIRED)
    if reacq is not None:
        add("sensor re-acquired", reacq.t_s, reacq.message)
    brk = first(EventKind.BRAKING_COMPLETE)
    add("braking complete", brk and brk.t_s, brk and brk.message)
    nul = first(EventKind.HORIZONTAL_NULLED)
    add("horizontal speed nulled", nul and nul.t_s)
    zero = first(EventKind.ESTIMATE_ZERO)
    add("estimate reaches 0 m", zero and zero.t_s,
        zero and f"true altitude {at(zero.t_s, 'gnc.altitude_m'):.0f} m")
    # Slow descent (the sim has no zero-speed hover: it keeps 1.5 m/s down
    # until contact): the first step after the horizontal speed is nulled
    # with the vertical speed within 2 m/s (upright, slow).
    hover_t = None
    if nul is not None:
        slow = np.nonzero((t >= nul.t_s) & (np.abs(v["gnc.vertical_velocity_mps"]) <= 2.0)
                          & (v["gnc.thrust_n"] > 0))[0]
        if len(slow):
            hover_t = float(t[slow[0]])
    add("slow upright descent (|vz| <= 2 m/s)", hover_t,
        "" if hover_t is None else f"true altitude {at(hover_t, 'gnc.altitude_m'):.0f} m")
    dep = first(EventKind.PROPELLANT_DEPLETED)
    add("propellant exhausted, free fall", dep and dep.t_s,
        dep and f"true altitude {at(dep.t_s, 'gnc.altitude_m'):.0f} m")
    crash = first(EventKind.CRASH)
    touch = first(EventKind.TOUCHDOWN)
    if crash is not None:
        i = max(0, int(np.searchsorted(t, crash.t_s)) - 1)
        add("impact", crash.t_s, f"{abs(float(v['gnc.vertical_velocity_mps'][i])):.0f} m/s")
    if touch is not None:
        add("touchdown", touch.t_s, touch.message)
    last = _last_packet_s(profile_id, "descent-lrf-anomaly", sim.start_utc)
    add("last packet", last, "" if last is None else "CUC (TAI) - 37 s")
    events.sort(key=lambda e: math.inf if e["t_s"] is None else e["t_s"])
    return {
        "profile": profile_id,
        "epoch_utc": sim.start_utc.isoformat(),
        "outcome": "crash" if crash is not None else ("landed" if touch is not None else "none"),
        "events": events,
    }


def _fmt(x: Any, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def markdown(result: dict[str, Any]) -> str:
    out = ["## Lunar night (scenario lunar-night)", "",
           "| profile | night h | min deck °C | min battery °C | heater duty | heater kWh "
           "| min SOC | SOC at dawn | bus dead |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in result["night"]:
        dead = "no" if r["bus_dead_s"] is None else f"day {r['bus_dead_s'] / 86400:.1f}"
        out.append(f"| {r['profile']} | {r['night_h']:.0f} | {r['min_deck_c']:.1f} | "
                   f"{r['min_battery_c']:.1f} | {100 * r['heater_duty']:.0f}% | "
                   f"{r['heater_wh'] / 1000:.1f} | {100 * r['min_soc']:.0f}% | "
                   f"{100 * r['soc_at_dawn']:.0f}% | {dead} |")
    out += ["", "## Nominal descent (scenario descent)", "",
            "| profile | outcome | m0 kg | propellant kg | used kg | Δv m/s | rocket eq. kg "
            "| used/rocket | landing m/s | reserve |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["descent"]:
        out.append(f"| {r['profile']} | {r['outcome']} at {_fmt(r['t_s'], '.0f')} s | "
                   f"{r['start_mass_kg']:.0f} | {r['propellant_start_kg']:.0f} | "
                   f"{r['propellant_used_kg']:.0f} | {r['delta_v_mps']:.0f} | "
                   f"{r['rocket_equation_kg']:.0f} | {r['used_over_rocket']:.3f} | "
                   f"{_fmt(r['landing_speed_mps'], '.2f')} | {r['reserve_pct']:.1f}% |")
    for rep in result["replay"]:
        out += ["", f"## Crater-rim fault (descent-lrf-anomaly) on {rep['profile']}: {rep['outcome']}",
                f"epoch {rep['epoch_utc']}", "",
                "| event | sim s | UTC | note |", "|---|---|---|---|"]
        for e in rep["events"]:
            out.append(f"| {e['event']} | {_fmt(e['t_s'], '.1f')} | {e['utc'] or '-'} | {e['note']} |")
    out += ["", "Public timeline (REFERENCE.md): " + "; ".join(f"{k}: {v}" for k, v in M1_PUBLIC.items())]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON object instead of markdown")
    args = ap.parse_args()
    result = {
        "night": [night(p) for p in PROFILES],
        "descent": [descent(p) for p in PROFILES],
        "replay": [replay("hakuto-r-m1"), replay("apex-1.0")],
        "m1_public_timeline": M1_PUBLIC,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(markdown(result))


if __name__ == "__main__":
    main()

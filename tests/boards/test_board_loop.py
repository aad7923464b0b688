"""A virtual GNC board on a REAL pty flies the descent (``lunar-hil vboard``).

The board process is the CLI itself; the host opens the pty path it prints,
exactly as a user would.  HAKUTO-R Mission 1's crater-rim jump is replayed
against the board's estimator: the plain innovation gate crashes the lander,
the terrain-aware gate lands it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from lunar_hil.emulator.boards import (
    LOCKSTEP_TIMEOUT_S,
    BoardEventKind,
    BoardLink,
    GncBoardController,
    open_board_transport,
    percentile,
)
from lunar_hil.emulator.sim.params import PRESETS
from lunar_hil.emulator.sim.scenario import load_scenario
from lunar_hil.emulator.sim.simulation import LanderSimulation

#: The sim's reference lander (its own descent tests fly it): enough propellant
#: for the nominal descent, as a faithful M1 replay needs (REFERENCE.md).
PARAMS = PRESETS["generic-heater"]


@contextmanager
def vboard(*extra: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lunar_hil.emulator.cli", "vboard", "gnc", "--port", "pty", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("pty: /dev/"), line
        yield line.removeprefix("pty: ")
    finally:
        proc.terminate()
        proc.wait(10)


def fly(path: str, scenario: str, until_s: float = 1800.0,
        timeout_s: float = LOCKSTEP_TIMEOUT_S) -> tuple[list[str], GncBoardController]:
    link = BoardLink("gnc", open_board_transport(path, "gnc"), timeout_s=timeout_s)
    controller = GncBoardController(link)
    sim = LanderSimulation(PARAMS, load_scenario(scenario), seed=0)
    sim.gnc_computer = controller
    try:
        block = sim.advance(until_s)
    finally:
        link.close()
    kinds = [str(getattr(e.kind, "value", e.kind)) for e in block.events]
    return kinds, controller


def test_virtual_gnc_board_on_a_pty_flies_the_nominal_descent_to_a_landing() -> None:
    with vboard() as path:
        kinds, controller = fly(path, "descent")
    assert "touchdown" in kinds and "crash" not in kinds
    counters = controller.link.counters
    # The descent is hundreds of seconds at 0.1 s steps: every step was a round trip.
    assert counters["round_trips"] > 1000
    assert counters["timeouts"] == 0
    assert controller.link.decoder.rejected == 0
    assert 0 < percentile(controller.link.latencies_ms, 50) <= percentile(
        controller.link.latencies_ms, 99)


@pytest.mark.parametrize(("extra", "outcome"), [((), "crash"), (("--terrain-aware",), "touchdown")])
def test_m1_crater_rim_jump_plain_gate_crashes_terrain_aware_gate_lands(
    extra: tuple[str, ...], outcome: str,
) -> None:
    with vboard(*extra) as path:
        kinds, controller = fly(path, "descent-lrf-anomaly")
    assert outcome in kinds
    assert ("crash" if outcome == "touchdown" else "touchdown") not in kinds
    flags = [a.flags for a in controller.answers]
    assert controller.link.counters["timeouts"] == 0
    assert flags  # the board answered up to the end


def test_board_that_stops_answering_times_out_holds_then_falls_back() -> None:
    with vboard("--stop-after", "30") as path:
        kinds, controller = fly(path, "descent", until_s=20.0, timeout_s=0.02)
    link = controller.link
    assert link.counters["round_trips"] == 30
    assert link.counters["timeouts"] >= 1
    assert link.counters["retries"] >= 1
    event_kinds = [e.kind for e in controller.events]
    assert event_kinds[:2] == [BoardEventKind.TIMEOUT, BoardEventKind.HOLD]
    assert BoardEventKind.FALLBACK in event_kinds
    assert controller.fallback
    # Held for HOLD_STEPS steps, then the built-in law flies: nothing crashed.
    assert "crash" not in kinds

"""Issue 7: dated runs. The CUC of the first packet is the scenario epoch in TAI
(CCSDS 301.0 level 1, 1958 epoch, leap seconds), ``--epoch`` overrides the
scenario's date, and a run that loses the lander reports the time of loss."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from lunar_hil.emulator.cli import main


def packets(path: Path) -> list[tuple[int, float]]:
    """(APID, CUC seconds) of each space packet: 6-byte primary header, then
    the 4+2-octet CUC T-field, decoded by hand."""
    data = path.read_bytes()
    out: list[tuple[int, float]] = []
    i = 0
    while i < len(data):
        apid = int.from_bytes(data[i:i + 2], "big") & 0x7FF
        length = int.from_bytes(data[i + 4:i + 6], "big") + 1
        coarse = int.from_bytes(data[i + 6:i + 10], "big")
        fine = int.from_bytes(data[i + 10:i + 12], "big")
        out.append((apid, coarse + fine / 65536.0))
        i += 6 + length
    assert i == len(data)
    return out


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["run", "--speed", "max", "--json", "--ideal-link", *args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_mission_1_replay_cuc_is_tai_and_the_run_ends_at_the_impact(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m1.bin"
    summary = run_json(capsys, "--profile", "hakuto-r-m1", "--band", "S",
                       "--scenario", "descent-lrf-anomaly", "--out", f"file:{out}?layer=packets")
    got = [p for p in packets(out) if p[0] != 0x7FF]
    # By hand: 2023-04-25T16:31:15Z is 23855 days after 1958-01-01, and TAI-UTC
    # has been 37 s since 2017-01-01 (IERS Bulletin C).
    assert (date(2023, 4, 25) - date(1958, 1, 1)).days == 23855
    expected = 23855 * 86400 + 16 * 3600 + 31 * 60 + 15 + 37
    assert expected == 2061131512
    assert min(cuc for _, cuc in got) == expected
    # The lander is lost at the impact: sim_seconds is that time, not the
    # 1800 s asked for, and the last packet is stamped within 1 s before it.
    from lunar_hil.emulator.sim.params import LanderParams
    from lunar_hil.emulator.sim.scenario import load_scenario
    from lunar_hil.emulator.sim.simulation import LanderSimulation
    from lunar_hil.profiles.loader import load_profile

    sc = load_scenario("descent-lrf-anomaly")
    sim = LanderSimulation(LanderParams.from_mapping(load_profile("hakuto-r-m1").sim_parameters()), sc)
    block = sim.advance(sc.duration_s)
    impact = next(e.t_s for e in block.events if e.kind == "crash")
    assert 600.0 < impact < 800.0
    assert summary["finished_reason"] == "lander lost"
    assert summary["sim_seconds"] == pytest.approx(impact, abs=0.11)
    last = max(cuc for _, cuc in got) - expected
    assert impact - 1.0 <= last <= impact


def test_epoch_override_and_the_leap_second_before_2017(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.bin"
    run_json(capsys, "--profile", "hakuto-r-m1", "--band", "S", "--scenario", "descent-lrf-anomaly",
             "--duration", "3", "--epoch", "2016-12-31T23:59:00Z", "--out", f"file:{out}?layer=packets")
    # By hand: 21549 days after 1958-01-01, and TAI-UTC was 36 s in 2016.
    assert (date(2016, 12, 31) - date(1958, 1, 1)).days == 21549
    first = min(cuc for apid, cuc in packets(out) if apid != 0x7FF)
    assert first == 21549 * 86400 + 23 * 3600 + 59 * 60 + 36 == 1861919976


def test_bad_epoch_is_a_one_line_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--profile", "hakuto-r-m1", "--scenario", "descent", "--speed", "max",
                 "--duration", "1", "--json", "--epoch", "25/04/2023"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--epoch" in err and "25/04/2023" in err

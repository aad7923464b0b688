"""``lunar-hil links``: contract keys, errors, the plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _links(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lunar_hil.emulator.cli", "links", *args],
                          capture_output=True, text=True, timeout=120)


def test_json_keys_of_the_contract() -> None:
    r = _links("apex-1.0", "--days", "3", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [x["name"] for x in d["relays"]] == ["Alpine", "Lupine"]
    for x in d["relays"]:
        assert 0.0 < x["visible_fraction"] <= 1.0
    assert 0.0 <= d["relay_coverage_fraction"] <= 1.0
    assert d["earth_visible_fraction"] == 0.0  # Schroedinger is on the far side
    # Through a relay: 1.2-1.4 s to Earth plus up to ~10,500 km (35 ms) of relay hop.
    assert 1.15 < d["light_time_s"]["min"] <= d["light_time_s"]["max"] < 1.40


def test_table_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "v.png"
    r = _links("lupex", "--days", "2", "--plot", str(png))
    assert r.returncode == 0, r.stderr
    assert "light time" in r.stdout and "DSS-43 Canberra" in r.stdout and "Usuda" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("args", "needle"), [
    (("no-such-lander",), "no-such-lander"),
    (("lupex", "--days", "0"), "--days"),
    (("lupex", "--epoch", "yesterday"), "yesterday"),
    (("lupex", "--epoch", "2070-01-01T00:00:00Z"), "DE421"),
])
def test_bad_input_is_one_line_exit_2(args: tuple[str, ...], needle: str) -> None:
    r = _links(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]

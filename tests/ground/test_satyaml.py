"""``lunar-hil satyaml``: every band of every profile, against ``profiles show --json``.

gr-satellites itself reads these files in test_gr_satellites.py; here every band
is checked key by key against the profile, and a band with a convolutional code
and no RS (HAKUTO-R M1's X band) is refused in one line naming gr-satellites'
Python API that can decode it.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from lunar_hil.emulator.cli import main

from .conftest import CLI, cli

PROFILES = ["apex-1.0", "series-3", "series-2", "hakuto-r-m1", "lupex"]


def lunar_hil(*args: str) -> tuple[int, str, str]:
    """``lunar-hil ARGS`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return rc, out.getvalue(), err.getvalue()


def bands() -> list[tuple[str, dict[str, object]]]:
    out = []
    for profile in PROFILES:
        for band in json.loads(lunar_hil("profiles", "show", profile, "--json")[1])["bands"]:
            out.append((profile, band))
    return out


BANDS = bands()


@pytest.mark.parametrize(("profile", "band"), BANDS, ids=[f"{p}-{b['name']}" for p, b in BANDS])
def test_satyaml_matches_the_band(tmp_path: Path, profile: str, band: dict[str, object]) -> None:
    rc, _, stderr = lunar_hil("satyaml", profile, "--band", str(band["name"]),
                              "--out", str(tmp_path / "s.yml"))
    if band["convolutional"] and not band["rs_interleave"]:
        assert rc == 2
        assert stderr.splitlines() == [
            f"lunar-hil: error: {profile}: band {band['name']}: convolutional code without "
            "Reed-Solomon has no SatYAML framing; in gr-satellites' Python API use "
            "satellites.components.deframers.ccsds_concatenated_deframer("
            f"frame_size={band['frame_length']}, rs_en=False, precoding='differential', "
            "scrambler='CCSDS', convolutional='CCSDS')"
        ]
        assert not (tmp_path / "s.yml").exists()
        return
    assert rc == 0, stderr
    doc = yaml.safe_load((tmp_path / "s.yml").read_text())
    assert doc["norad"] == 0 and doc["data"] == {"Telemetry": "unknown"}
    (tx,) = doc["transmitters"].values()
    assert tx["modulation"] == "BPSK"
    assert tx["baudrate"] == band["symbol_rate_sps"]
    assert tx["frequency"] == band["carrier_hz"]
    assert tx["frame size"] == band["frame_length"]
    assert tx["precoding"] == "differential"
    assert tx["scrambler"] == ("CCSDS" if band["randomizer"] else "none")
    assert tx["data"] == ["Telemetry"]
    if band["convolutional"]:
        assert tx["framing"] == "CCSDS Concatenated" and tx["convolutional"] == "CCSDS"
        assert tx["baudrate"] == 2 * band["bit_rate_bps"]  # type: ignore[operator]
    else:
        assert tx["framing"] == "CCSDS Reed-Solomon" and "convolutional" not in tx
        assert tx["baudrate"] == band["bit_rate_bps"]
    assert tx["RS basis"] == "dual" and tx["RS interleaving"] == band["rs_interleave"]


def test_the_conv_only_api_exists_in_debian_gr_satellites() -> None:
    """The API the error names is there, with the keywords the error uses."""
    code = (
        "import inspect\n"
        "from satellites.components.deframers import ccsds_concatenated_deframer as d\n"
        "import json; print(json.dumps(sorted(inspect.signature(d.__init__).parameters)))\n"
    )
    proc = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    params = set(json.loads(proc.stdout))
    assert {"frame_size", "rs_en", "precoding", "scrambler", "convolutional"} <= params


def test_conv_only_band_through_the_real_cli() -> None:
    args = ("satyaml", "hakuto-r-m1", "--band", "X")
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "rs_en=False" in proc.stderr


def test_stdout_by_default() -> None:
    text = cli("satyaml", "lupex", "--band", "S").stdout
    assert text.startswith("# gr-satellites SatYAML for lupex, band S")
    assert yaml.safe_load(text)["name"] == "lupex S"

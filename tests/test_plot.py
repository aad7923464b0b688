"""``lunar-hil plot``: PNGs that show traces, one-word presets, notes and one-line errors.

The data is a real run: HAKUTO-R M1 descending for 120 s, decoded with
``decode --params-out``. A PNG "shows traces" when its pixels vary (a blank
figure has variance 0) and some of them are coloured: axes, ticks and text are
grey levels, only the traces carry matplotlib's colour cycle.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from lunar_hil.emulator.errors import ConfigError
from lunar_hil.emulator.plotting import PRESETS, Panel, plot, read_params, resolve_panels

CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]
GALLERY = Path(__file__).resolve().parent.parent / "docs" / "gallery"

#: Grey-level variance of a page of plots with traces: measured 0.0126-0.019
#: on the gallery and these tests; a blank figure is 0, one set of axes with a
#: title and no data 0.0074.
VARIANCE_FLOOR = 0.009
#: Fraction of coloured pixels (max - min channel > 0.2): measured 0.5-2 % with
#: traces; 0 on axes without data.
COLOURED_FLOOR = 0.002


def lunar_hil(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def m1_params(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("plot")
    for args in (
        ("run", "--profile", "hakuto-r-m1", "--scenario", "descent", "--speed", "max",
         "--duration", "120", "--out", "file:m1.cadu"),
        ("decode", "--profile", "hakuto-r-m1", "m1.cadu", "--params-out", "m1.jsonl"),
    ):
        proc = lunar_hil(*args, cwd=tmp)
        assert proc.returncode == 0, proc.stderr
    return tmp / "m1.jsonl"


def picture_stats(png: Path) -> tuple[float, float]:
    """(grey-level variance, fraction of coloured pixels) of a PNG."""
    rgb = matplotlib.image.imread(png)[..., :3].astype(np.float64)
    grey = rgb.mean(axis=2)
    coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 0.2
    return float(grey.var()), float(coloured.mean())


def assert_has_traces(png: Path) -> None:
    assert png.stat().st_size > 10_000, png
    variance, coloured = picture_stats(png)
    assert variance > VARIANCE_FLOOR, (png, variance)
    assert coloured > COLOURED_FLOOR, (png, coloured)


def test_the_floor_tells_a_blank_figure(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(10, 4))
    fig.savefig(tmp_path / "blank.png", dpi=110)
    fig.add_subplot().set_title("axes with no data")
    fig.savefig(tmp_path / "empty.png", dpi=110)
    plt.close(fig)
    for name in ("blank.png", "empty.png"):
        variance, coloured = picture_stats(tmp_path / name)
        assert coloured == 0.0 and variance < VARIANCE_FLOOR, (name, variance)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_writes_a_png_with_traces(m1_params: Path, tmp_path: Path, preset: str) -> None:
    out = tmp_path / f"{preset}.png"
    proc = lunar_hil("plot", str(m1_params), "--preset", preset, "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    assert_has_traces(out)


def test_presets_resolve_to_the_parameters_they_name(m1_params: Path) -> None:
    names = set(read_params(m1_params))
    night, notes = resolve_panels(PRESETS["night"], names)
    assert notes == []
    assert [found for _, found in night] == [
        ["PWR_BATT_SOC"],
        ["THM_AVIONICS_C", "THM_BATTERY_C", "THM_PROPULSION_C", "THM_RADIATOR_C", "THM_SURFACE_C"],
        ["PWR_HEATER_W"],
        ["PWR_SOLAR_W"],
    ]
    descent, notes = resolve_panels(PRESETS["descent"], names)
    assert notes == []
    assert [found for _, found in descent] == [
        ["GNC_ALTITUDE_M", "GNC_ALTITUDE_EST_M"], ["GNC_VERT_VEL_MPS"], ["GNC_PROPELLANT_KG"],
        ["GNC_THRUST_N"],
    ]


def test_a_missing_parameter_is_a_note_not_a_crash(m1_params: Path, tmp_path: Path) -> None:
    """M1's profile has no Eb/N0 channel: the links preset draws the rest and says so."""
    out = tmp_path / "links.png"
    proc = lunar_hil("plot", str(m1_params), "--preset", "links", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "lunar-hil plot: skipping 'Eb/N0 (dB)': none of COM_EBN0*, COM_EB_N0* in the data"
    ]
    assert_has_traces(out)
    proc = lunar_hil("plot", str(m1_params), "--params", "GNC_ALTITUDE_M,NO_SUCH_PARAM",
                     "--out", str(tmp_path / "p.png"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "NO_SUCH_PARAM" in proc.stderr and "Traceback" not in proc.stderr


def test_several_files_overlay(m1_params: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text(m1_params.read_text())
    notes = plot([m1_params, other], tmp_path / "two.png", params=["GNC_ALTITUDE_M"])
    assert notes == []
    assert_has_traces(tmp_path / "two.png")


def test_default_out_is_the_first_file_with_png(m1_params: Path, tmp_path: Path) -> None:
    data = tmp_path / "copy.jsonl"
    data.write_text(m1_params.read_text())
    proc = lunar_hil("plot", "copy.jsonl", "--params", "PWR_BATT_SOC", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "copy.png"
    assert_has_traces(tmp_path / "copy.png")


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, ("missing.jsonl", "--preset", "night"), "missing.jsonl: cannot read: "),
        ("", ("bad.jsonl", "--preset", "night"), "bad.jsonl: no telemetry values"),
        ("not json\n", ("bad.jsonl", "--preset", "night"),
         "bad.jsonl:1: not a decode --params-out record"),
        ('{"apid": 1, "seq": 0, "time": 0, "params": {"A": 1}}\n[1, 2]\n',
         ("bad.jsonl", "--preset", "night"), "bad.jsonl:2: not a decode --params-out record"),
        ('{"apid": 1, "seq": 0, "time": 0, "params": {"A": 1}}\n',
         ("bad.jsonl", "--params", "B,C"), "none of the parameters (B, C) is in bad.jsonl"),
        ('{"apid": 1, "seq": 0, "time": 0, "params": {"A": 1}}\n',
         ("bad.jsonl", "--params", "A", "--out", "no/such/dir/x.png"),
         "--out no/such/dir/x.png: cannot write: "),
        ('{"apid": 1, "seq": 0, "time": 0, "params": {"A": 1}}\n',
         ("bad.jsonl", "--preset", "sunrise"), "argument --preset: invalid choice: 'sunrise'"),
        ('{"apid": 1, "seq": 0, "time": 0, "params": {"A": 1}}\n',
         ("bad.jsonl",), "one of the arguments --params --preset is required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str | None,
                                          args: tuple[str, ...], message: str) -> None:
    if content is not None:
        (tmp_path / "bad.jsonl").write_text(content)
    proc = lunar_hil("plot", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("lunar-hil") and message in lines[0], lines[0]


def test_library_refuses_both_or_neither(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="either --params"):
        plot([tmp_path / "x.jsonl"], tmp_path / "x.png")
    with pytest.raises(ConfigError, match="either --params"):
        plot([tmp_path / "x.jsonl"], tmp_path / "x.png", params=["A"], preset="night")
    with pytest.raises(ConfigError, match="--preset dusk"):
        plot([tmp_path / "x.jsonl"], tmp_path / "x.png", preset="dusk")


def test_records_decode_could_not_read_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"apid": 1, "seq": 0, "time": 100.0, "params": {"A": 1, "S": "text"}},
        {"apid": 1, "seq": 1, "time": None, "params": None, "error": "short packet"},
        {"apid": 1, "seq": 2, "time": 3700.0, "params": {"A": 3}},
    ]) + "\n")
    series = read_params(path)
    assert list(series) == ["A"]  # strings are not plotted
    assert series["A"].hours == [0.0, 1.0] and series["A"].values == [1.0, 3.0]
    panels, notes = resolve_panels((Panel("a", ("A*",)), Panel("b", ("B",))), set(series))
    assert [found for _, found in panels] == [["A"]] and notes == ["skipping 'b': none of B in the data"]


@pytest.mark.parametrize("name", ["m1-anomaly.png", "night-series3-vs-apex.png", "links-timeline.png"])
def test_the_gallery_is_checked_in_and_not_blank(name: str) -> None:
    """The README's figures (``make gallery`` regenerates them)."""
    assert_has_traces(GALLERY / name)

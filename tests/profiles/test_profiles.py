"""Shipped profiles, the loader's error contract, ``extends``, and the CLI.

Expected values come from the command-line contract and the seed
documents (cited inline), never from running the code under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lunar_hil.emulator.cli import main
from lunar_hil.emulator.errors import ProfileError
from lunar_hil.profiles.loader import list_profiles, load_profile, resolve_file, validate_file
from lunar_hil.profiles.schema import Profile

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "profiles" / "apex-1.0-ka-heavy.yaml"
SHIPPED = {"apex-1.0", "series-3", "series-2", "hakuto-r-m1", "lupex"}
# The four seed file names (the public spec cards the profiles cite).
SEEDS = {
    "000_827dec95fe2123af.txt",
    "001_8a23aba8387cb8b0.txt",
    "002_319938995a640147.txt",
    "003_c81020baac02197b.txt",
}
# The flat sim parameter object, key for key.
SIM_KEYS = [
    "site_latitude_deg", "site_longitude_deg", "regolith_night_floor_k", "dry_mass_kg",
    "wet_mass_kg", "payload_mass_kg", "propellant_kg", "main_engine_thrust_n",
    "main_engine_isp_s", "solar_array_peak_w", "solar_array_tilt_deg",
    "solar_array_sun_tracking", "battery_capacity_wh", "battery_nominal_v", "battery_dod_limit",
    "battery_cutoff_v", "battery_charge_min_c", "load_descent_w", "load_surface_w",
    "load_night_w", "heater_power_w", "heater_setpoint_c", "rps_electrical_w", "rps_thermal_w",
    "mli", "thermal_capacity_j_per_k", "conductance_w_per_k", "operating_min_c",
    "operating_max_c", "survival_min_c", "survival_max_c", "battery_operating_min_c",
    "battery_operating_max_c", "battery_survival_min_c", "battery_survival_max_c",
    "descent_start_altitude_m", "descent_start_horizontal_velocity_mps",
    "descent_start_vertical_velocity_mps", "terminal_descent_mps", "touchdown_max_vertical_mps",
    "lrf_max_range_m", "lrf_gate_m", "lrf_terrain_aware_gate", "tx_power_w", "relay_count",
    "has_rover", "rover_mass_kg", "rover_speed_mps", "rover_battery_wh", "has_drill",
    "drill_max_depth_m", "instruments", "commands",
]  # fmt: skip
BOOL_KEYS = {"mli", "solar_array_sun_tracking", "lrf_terrain_aware_gate", "has_rover", "has_drill"}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# ---------------------------------------------------------------- shipped


def test_shipped_ids_and_all_validate() -> None:
    profiles = list_profiles()
    assert {p.id for p in profiles} == SHIPPED
    for p in profiles:
        assert validate_file(REPO / "profiles" / f"{p.id}.yaml") == []


@pytest.mark.parametrize("pid", sorted(SHIPPED))
def test_show_json_contract(capsys: pytest.CaptureFixture[str], pid: str) -> None:
    rc, out, err = run_cli(capsys, "profiles", "show", pid, "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["id"] == pid and isinstance(data["name"], str)
    assert data["apids"] and all(
        isinstance(a["apid"], int) and isinstance(a["name"], str) for a in data["apids"]
    )
    types = {
        "bit_rate_bps": int, "scid": int, "frame_length": int, "fecf": bool, "ocf": bool,
        "rs_interleave": int, "randomizer": bool, "asm": str, "convolutional": bool,
        "idle_vcid": int,
    }  # fmt: skip
    for band in data["bands"]:
        assert band["name"] in ("S", "X", "Ka")
        assert band["frame_type"] in ("TM", "AOS")
        for key, typ in types.items():
            assert type(band[key]) is typ, (key, band[key])
        assert bytes.fromhex(band["asm"]) == b"\x1a\xcf\xfc\x1d"  # 131.0 §9.3: ASM 0x1ACFFC1D
        assert isinstance(band["carrier_hz"], float)
        assert isinstance(band["virtual_channels"], list)


def test_list_json_subprocess() -> None:
    exe = Path(sys.executable).parent / "lunar-hil"
    proc = subprocess.run(
        [str(exe), "profiles", "list", "--json"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {r["id"] for r in rows} == SHIPPED
    assert all(isinstance(r["name"], str) and r["name"] for r in rows)


def test_list_table_and_show_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "profiles", "list")
    assert rc == 0 and all(pid in out for pid in SHIPPED)
    rc, out, _ = run_cli(capsys, "profiles", "show", "series-3")
    assert rc == 0 and yaml.safe_load(out)["id"] == "series-3"


def test_seed_facts_in_profiles() -> None:
    """Spot checks against the seeds (values quoted from the documents)."""
    apex = load_profile("apex-1.0")
    assert apex.physical.wet_mass_kg == 5390  # seed 000: wet_mass_kg 5390
    assert (apex.physical.ranges["dry_mass_kg"].min, apex.physical.ranges["dry_mass_kg"].max) == (1000, 1730)
    assert apex.thermal.strategy == "rps" and apex.power.rps_electrical_w > 0  # seed 000: US = RPS
    assert {r.name for r in apex.relays} == {"Alpine", "Lupine"}  # seed 000
    assert apex.site.far_side and apex.mission.clps_task_order == "CP-12"
    s3 = load_profile("series-3")
    assert s3.thermal.strategy == "heaters" and s3.power.rps_electrical_w == 0  # seed 000: JP non-RPS
    assert (s3.thermal.tvac_min_c, s3.thermal.tvac_max_c) == (-140, 130)  # seed 000 TVAC
    assert s3.mission.launch_year == 2028 and s3.mission.clps_task_order is None
    hak = load_profile("hakuto-r-m1")
    assert (hak.physical.height_m, hak.physical.width_m, hak.physical.wet_mass_kg) == (2.3, 2.6, 1050)
    assert hak.rovers[0].wheels == 4  # seed 003
    lupex = load_profile("lupex")
    assert {i.id for i in lupex.instruments} == {"gpr", "ns", "alis", "ems_l", "reiwa", "isro_sap"}
    assert lupex.rovers[0].drill_max_depth_m == 1.5  # seed 002
    assert next(i for i in lupex.instruments if i.id == "reiwa").components == ["LTGA", "TRITON", "ADORE"]
    s2 = load_profile("series-2")
    assert len(s2.relays) == 2 and all("assumed" in r.field_sources["name"] for r in s2.relays)


def _sources(data: Any) -> list[str]:
    found: list[str] = []
    if isinstance(data, dict):
        if isinstance(data.get("provenance"), str):
            found.append(data["provenance"])
        found.extend((data.get("field_sources") or {}).values())
        found.extend(r["source"] for r in (data.get("ranges") or {}).values())
        for v in data.values():
            found.extend(_sources(v))
    elif isinstance(data, list):
        for v in data:
            found.extend(_sources(v))
    return found


def test_every_seed_source_names_a_real_seed() -> None:
    cited: set[str] = set()
    for p in list_profiles():
        for src in _sources(p.to_json_dict()):
            kind, _, rest = src.partition(": ")
            assert kind in ("seed", "assumed") and rest.strip(), src
            if kind == "seed":
                assert rest.split()[0] in SEEDS, src
                cited.add(rest.split()[0])
    assert cited == SEEDS  # each seed document is used by some profile


def test_sim_parameters_keys_and_types() -> None:
    for p in list_profiles():
        params = p.sim_parameters()
        assert list(params) == SIM_KEYS
        for key, value in params.items():
            if key in BOOL_KEYS:
                assert type(value) is bool
            elif key == "instruments":
                assert all(set(i) == {"id", "name", "data_rate_bps", "duty"} for i in value)
            elif key == "commands":
                assert all(set(c) == {"name", "opcode", "args"} for c in value)
            elif key == "relay_count":
                assert type(value) is int
            elif key == "regolith_night_floor_k":
                assert value is None or type(value) is float
            else:
                assert type(value) is float, key


# ---------------------------------------------------------------- extends


def test_extends_example_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(capsys, "profiles", "validate", str(EXAMPLE))
    assert rc == 0 and out.strip() == f"{EXAMPLE}: ok", err
    user = load_profile(str(EXAMPLE))
    base = load_profile("apex-1.0")
    assert user.id == "apex-1.0-ka-heavy"
    assert user.power.battery_capacity_wh == 10000
    assert user.power.field_sources["battery_capacity_wh"].startswith("assumed:")
    assert user.power.solar_array_peak_w == base.power.solar_array_peak_w  # inherited
    ka = user.band("Ka")
    assert (ka.bit_rate_bps, ka.frame_length, ka.rs_interleave) == (40_000_000, 1784, 8)
    assert ka.frame_type == "AOS" and ka.scid == base.band("Ka").scid  # keyed merge keeps the rest
    assert {a.apid for a in user.apids} == {a.apid for a in base.apids} | {0x201}
    assert ka.vc_of(0x201) is not None and ka.vc_of(0x201).vcid == 2


def test_extends_delete_and_fact_replaced_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUNAR_HIL_PROFILE_DIR", str(EXAMPLE.parent))  # extends: the user's dir
    f = tmp_path / "u.yaml"
    f.write_text(
        f"extends: {EXAMPLE.name}\n"
        "id: trimmed\n"
        "instruments:\n  - {id: seismometer, _delete: true}\n"
        "apids:\n  - {apid: 0x201, _delete: true}\n"
        "bands:\n"
        "  - {name: Ka, virtual_channels: [{vcid: 2, apids: [0x200]}]}\n"
        "  - {name: S, virtual_channels: [{vcid: 1, apids: [0x200]}]}\n"
        "  - {name: X, virtual_channels: [{vcid: 1, apids: [0x200]}]}\n"
        "physical:\n  wet_mass_kg: {value: 5000, source: 'assumed: lighter what-if'}\n"
    )
    p = load_profile(str(f))
    assert "seismometer" not in {i.id for i in p.instruments}
    assert 0x201 not in {a.apid for a in p.apids}
    # the new value brings its own source; the seed source is not kept
    assert p.physical.wet_mass_kg == 5000
    assert p.physical.field_sources["wet_mass_kg"] == "assumed: lighter what-if"


# ---------------------------------------------------------------- bad profiles


def _write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    return f


BAD_OVERRIDES = [
    # (YAML over `extends: apex-1.0`, field path in the error, words in the message)
    ("physical:\n  wet_mass_kg: {value: heavy, source: 'assumed: x'}\n", "physical.wet_mass_kg", "number"),
    ("power:\n  battery_capacity_wh: {value: 10, source: 'seed: nope.txt'}\n", "power.battery_capacity_wh", "unknown seed file"),
    ("power:\n  battery_capacity_wh: {value: 10, source: 'because'}\n", "power.battery_capacity_wh", "assumed:"),
    ("power:\n  battery_capacity_wh: {value: 10}\n", "power.battery_capacity_wh", "source"),
    ("power:\n  battery_capacity_wh: 10\n", "power.battery_capacity_wh", "no provenance"),
    ("bands:\n  - {name: X, frame_length: {value: 1116, source: 'assumed: t'}}\n", "bands.1.frame_length", "RS compatible"),
    ("bands:\n  - {name: X, scid: {value: 1024, source: 'assumed: t'}}\n", "bands.1.scid", "< 1024"),
    ("bands:\n  - {name: Ka, idle_vcid: 64}\n", "bands.2.idle_vcid", "< 64"),
    ("bands:\n  - {name: X, rs_interleave: 6}\n", "bands.1.rs_interleave", "one of"),
    (
        "apids:\n  - apid: 0x250\n    name: X\n    subsystem: payload\n    rate_hz: 1\n"
        "    provenance: 'assumed: t'\n"
        "    channels: [{name: BOGUS, type: u8, source: power.bogus, range: [0, 1]}]\n",
        "apids.6.channels.0.source",
        "unknown state key",
    ),
    ("apids:\n  - {apid: 0x100, rate_hz: {value: 1, source: 'assumed: t'}}\n"
     "bands:\n  - {name: S, virtual_channels: [{vcid: 0, apids: [0x100, 0x999]}]}\n",
     "bands.0.virtual_channels.0.apids.1", "not defined"),
    ("mission:\n  launch_year: {value: 1969, source: 'assumed: t'}\n", "mission.launch_year", "2000"),
    ("apids:\n  - apid: 0x100\n    channels:\n      - {name: PWR_SOLAR_W, type: u8}\n",
     "apids.0.channels.0.range", "outside u8"),
]  # fmt: skip


@pytest.mark.parametrize(("override", "where", "words"), BAD_OVERRIDES)
def test_bad_override_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, override: str, where: str, words: str
) -> None:
    f = _write(tmp_path, "extends: apex-1.0\n" + override)
    rc, out, err = run_cli(capsys, "profiles", "validate", str(f))
    assert rc == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"lunar-hil: error: {f}: {where}: "), lines[0]
    assert words in lines[0]
    assert "Traceback" not in err


def test_duplicate_apid(tmp_path: Path) -> None:
    raw = resolve_file(REPO / "profiles" / "apex-1.0.yaml")
    raw["apids"].append(dict(raw["apids"][0]))
    f = _write(tmp_path, yaml.safe_dump(raw))
    errors = validate_file(f)
    assert len(errors) == 1 and errors[0].startswith(f"{f}: apids.6.apid: duplicate apid 256")


def test_missing_fields(tmp_path: Path) -> None:
    f = _write(tmp_path, "id: bare\nname: Bare\n")
    errors = validate_file(f)
    for field in ("mission", "site", "physical", "power", "thermal", "bands", "apids"):
        assert f"{f}: {field}: Field required" in errors
    assert all(e.startswith(f"{f}: ") and "\n" not in e for e in errors)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id: [unclosed\nname: x\n", ": line 2: "),  # the ":" on line 2 cannot sit in the open [ ]
        ("id: x\n  name: : y\n", ": line 2: "),
        ("- just\n- a list\n", ": top level must be a mapping"),
    ],
)
def test_yaml_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str) -> None:
    f = _write(tmp_path, text)
    rc, _, err = run_cli(capsys, "profiles", "validate", str(f))
    assert rc == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"lunar-hil: error: {f}{expected}"), err


def test_missing_file_unknown_id_unknown_extends(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    rc, _, err = run_cli(capsys, "profiles", "validate", str(missing))
    assert rc == 2 and err == f"lunar-hil: error: {missing}: no such file\n"
    rc, _, err = run_cli(capsys, "profiles", "show", "apex-9")
    assert rc == 2 and err.startswith("lunar-hil: error: apex-9: no such profile (known: apex-1.0, ")
    f = _write(tmp_path, "extends: apex-9\nid: x\n")
    rc, _, err = run_cli(capsys, "profiles", "show", str(f), "--json")
    assert rc == 2 and err.startswith(f"lunar-hil: error: {f}: extends: apex-9: no such profile (known: ")
    with pytest.raises(ProfileError):
        load_profile("apex-9")


def test_extends_cycle(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("extends: b.yaml\nid: a\n")
    b.write_text("extends: a.yaml\nid: b\n")
    errors = validate_file(a)
    assert len(errors) == 1 and "extends: cycle" in errors[0]


def test_profile_model_roundtrip() -> None:
    """The JSON view validates back to an equal profile (provenance included)."""
    for p in list_profiles():
        data = p.model_dump(mode="json")
        assert Profile.model_validate(data) == p

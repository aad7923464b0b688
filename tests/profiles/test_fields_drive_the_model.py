"""Every field of a shipped profile drives the model, is rejected, or is metadata.

Issue 7: "Every field in a profile must either drive the model or be rejected
by the schema. A test loads each profile, perturbs each numeric field, and
asserts that the run's telemetry changes. Fields that are pure metadata are
listed as such."

For every numeric (and boolean) leaf of each shipped profile, as validated
(defaults included), the test perturbs the value (x1.1, x0.9, +1, -1 for
floats; +1, -1 for integers; a flag is flipped), re-validates the profile,
and compares what a run is built from: the sim's ``LanderParams``, each
band's ``BandSetup`` and ``TelemetryDictionary``, the instrument gates, and
the links model's site, relay, station and band inputs. A leaf is

* *driving* when some accepted perturbation changes one of those;
* *rejected* when the schema (or the binding) refuses every perturbation;
* *metadata* when :data:`lunar_hil.profiles.sim_params.METADATA_FIELDS` lists
  it; a listed field that drives something fails the test too (the list must
  not hide a used field).

Anything else is silently dropped and fails the test. Leaves inherited
unchanged from a parent (``_common.yaml``, ``extends: apex-1.0``) that already
drove the model in an earlier profile are not tried again (same keyed path,
same value), which keeps the walk to a few seconds.

For a sample of physics fields, the simulated state itself is compared:
``LanderSimulation.advance`` over a short descent or surface span of the
baseline and the perturbed profile must differ.
"""

from __future__ import annotations

import math
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

import numpy as np
import pytest

from lunar_hil.emulator.binding import (
    band_setup,
    instrument_gates,
    lander_params,
    telemetry_dictionary,
)
from lunar_hil.emulator.errors import ConfigError
from lunar_hil.emulator.links.schedule import bands_of, relays_of, site_of, stations_of
from lunar_hil.emulator.sim.scenario import load_scenario
from lunar_hil.emulator.sim.simulation import LanderSimulation
from lunar_hil.profiles.loader import load_profile, shipped_ids
from lunar_hil.profiles.schema import Profile
from lunar_hil.profiles.sim_params import METADATA_FIELDS

PROFILES = tuple(shipped_ids())
_BOOKKEEPING = ("provenance", "field_sources", "ranges")
#: List fields whose items have an identity key: a leaf's keyed path names the
#: item, not its position, so an inherited item is recognised in every profile.
_ITEM_KEYS = {
    "apids": "apid", "channels": "name", "commands": "name", "args": "name", "bands": "name",
    "virtual_channels": "vcid", "ground_networks": "name", "stations": "name",
    "relays": "name", "instruments": "id", "rovers": "id",
}
_SOURCE = "assumed: perturbed by tests/profiles/test_fields_drive_the_model.py"

Path = tuple[str | int, ...]


def _leaves(node: Any, path: Path = (), keyed: tuple[str, ...] = ()) -> Any:
    """(path, keyed path, value) of every number and flag under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in _BOOKKEEPING:
                yield from _leaves(value, (*path, key), (*keyed, key))
    elif isinstance(node, list | tuple):
        item_key = _ITEM_KEYS.get(str(path[-1])) if path else None
        for i, value in enumerate(node):
            label = f"[{value[item_key]}]" if item_key and isinstance(value, dict) else str(i)
            yield from _leaves(value, (*path, i), (*keyed, label))
    elif isinstance(node, bool | int | float):
        yield path, keyed, node


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _perturbations(value: bool | int | float) -> list[Any]:
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    if value == 0:
        return [1.0, -1.0, 0.1]
    return [value * 1.1, value * 0.9, value + 1.0, value - 1.0]


def _with(dump: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A copy of ``dump`` (copied along ``path`` only) with the leaf set to
    ``value``, as a fact with its own source when the leaf is a block field."""
    root: Any = dict(dump)
    node = root
    for step in path[:-1]:
        child = node[step]
        child = dict(child) if isinstance(child, dict) else list(child)
        node[step] = child
        node = child
    last = path[-1]
    if isinstance(node, dict) and "field_sources" in node:
        node[last] = {"value": value, "source": _SOURCE}
    else:
        node[last] = value
    return root


def _observables(profile: Profile) -> tuple[Any, ...]:
    """What a run is built from (see the module docstring)."""
    return (
        lander_params(profile),
        tuple((band_setup(b), telemetry_dictionary(profile, b).layouts) for b in profile.bands),
        instrument_gates(profile),
        site_of(profile), relays_of(profile), stations_of(profile), bands_of(profile),
    )


def _build(dump: dict[str, Any]) -> tuple[Profile, tuple[Any, ...]] | None:
    try:
        profile = Profile.model_validate(dump)
        return profile, _observables(profile)
    except (ValueError, ConfigError):  # pydantic's ValidationError is a ValueError
        return None


def _driving_variant(profile_id: str, path: Path, values: tuple[Any, ...] = ()) -> Profile | None:
    """The first accepted perturbation of ``path`` (or of ``values``) that changes the observables."""
    profile = load_profile(profile_id)
    dump = profile.model_dump()
    base = _observables(profile)
    node: Any = dump
    for step in path:
        node = node[step]
    for value in values or _perturbations(node):
        built = _build(_with(dump, path, value))
        if built is not None and built[1] != base:
            return built[0]
    return None


def _metadata(dotted: str) -> str | None:
    for pattern in METADATA_FIELDS:
        if fnmatchcase(dotted, pattern):
            return pattern
    return None


@cache
def _classify_all() -> dict[str, dict[str, str]]:
    """profile id -> dotted leaf -> 'drives' | 'rejected' | 'dropped' (+ ' metadata')."""
    seen_driving: set[tuple[tuple[str, ...], Any]] = set()
    out: dict[str, dict[str, str]] = {}
    for pid in PROFILES:
        profile = load_profile(pid)
        dump = profile.model_dump()
        base = _observables(profile)
        result: dict[str, str] = {}
        for path, keyed, value in _leaves(dump):
            dotted = _dotted(path)
            if (keyed, value) in seen_driving:
                status = "drives"
            else:
                status = "rejected"
                for candidate in _perturbations(value):
                    built = _build(_with(dump, path, candidate))
                    if built is None:
                        continue
                    if built[1] != base:
                        status = "drives"
                        seen_driving.add((keyed, value))
                        break
                    status = "dropped"
            if _metadata(dotted) is not None:
                status += " metadata"
            result[dotted] = status
        out[pid] = result
    return out


@pytest.mark.parametrize("profile_id", PROFILES)
def test_every_field_drives_the_model_or_is_rejected_or_metadata(profile_id: str) -> None:
    fields = _classify_all()[profile_id]
    assert len(fields) > 100, "the walk found too few numeric fields"
    dropped = sorted(f for f, s in fields.items() if s == "dropped")
    assert not dropped, (
        f"{profile_id}: fields that no model reads and METADATA_FIELDS does not list: {dropped}"
    )


@pytest.mark.parametrize("profile_id", PROFILES)
def test_metadata_fields_drive_nothing(profile_id: str) -> None:
    fields = _classify_all()[profile_id]
    hidden = sorted(f for f, s in fields.items() if s == "drives metadata")
    assert not hidden, f"{profile_id}: METADATA_FIELDS lists fields that do drive the model: {hidden}"


def test_metadata_list_gives_a_reason_for_each_entry() -> None:
    for pattern, reason in METADATA_FIELDS.items():
        assert reason.strip() and "\n" not in reason, pattern


def test_the_walk_sees_the_fields_issue_7_names() -> None:
    """The fields issue 7 found silently dropped are now driving."""
    fields = _classify_all()
    lupex, series2 = fields["lupex"], fields["series-2"]
    rover = next(f for f in lupex if f.startswith("rovers.") and f.endswith(".traverse_speed_mps"))
    for name in (rover, rover.replace("traverse_speed_mps", "drill_max_depth_m"),
                 "power.battery_dod_limit", "power.battery_cutoff_v"):
        assert lupex[name] == "drives", name
    orbit = [f for f in series2 if f.startswith("relays.") and ".orbit." in f]
    assert orbit and all(series2[f] == "drives" for f in orbit)
    tx = [f for f in series2 if f.startswith("bands.") and f.endswith((".tx_power_w", ".antenna_gain_dbi"))]
    assert tx and all(series2[f] == "drives" for f in tx)


# ---------------------------------------------------------------- sim state

_DESCENT = ("descent", 300.0)
_NIGHT_START = ("lunar-night", 2 * 86400.0)
_NIGHT_HEATERS = ("lunar-night", 12 * 86400.0)  # the deck reaches the setpoint after ~9 days
_DAY = ("surface-nominal", 86400.0)
_DRILL = ("surface-nominal", 2 * 86400.0)  # 1.5 m at 0.05 m/h: ~30 h after the 6 h deploy

#: (profile, field, (scenario, span s)[, value]): physics fields whose
#: perturbation must change the simulated state, one or two per model. A
#: threshold gets a value across what it separates: the innovation gate wider
#: than the crater rim's 3 km step accepts the jumped reading.
SIM_SAMPLE: tuple[tuple[Any, ...], ...] = (
    ("series-3", "physical.dry_mass_kg", _DESCENT),
    ("series-3", "propulsion.main_engine_thrust_n", _DESCENT),
    ("series-3", "propulsion.main_engine_isp_s", _DESCENT),
    ("series-3", "propulsion.pre_descent_delta_v_mps", _DESCENT),
    ("series-3", "descent.start_altitude_m", _DESCENT),
    ("series-3", "descent.start_horizontal_velocity_mps", _DESCENT),
    ("hakuto-r-m1", "navigation.lrf_gate_m", ("descent-lrf-anomaly", 300.0), 4000.0),
    ("series-3", "thermal.conductance_w_per_k", _NIGHT_START),
    ("series-3", "thermal.thermal_capacity_j_per_k", _NIGHT_START),
    ("series-3", "power.load_night_w", _NIGHT_START),
    ("series-3", "power.battery_capacity_wh", _NIGHT_START),
    ("series-3", "power.heater_power_w", _NIGHT_HEATERS),
    ("series-3", "power.heater_setpoint_c", _NIGHT_HEATERS),
    ("series-3", "power.solar_array_peak_w", _DAY),
    ("series-3", "power.load_surface_w", _DAY),
    ("series-3", "site.latitude_deg", _DAY),
    ("lupex", "rovers.[*].traverse_speed_mps", _DAY),
    ("lupex", "rovers.[*].drill_max_depth_m", _DRILL),
    ("lupex", "instruments.[*].data_rate_bps", _DAY),
    # The sim's comms.tx_power_w is the strongest band's (X, 15 W); the others
    # drive the link budget only (the field walk above covers that).
    ("series-2", "bands.1.tx_power_w", _DAY),
)


def _resolve(profile_id: str, field: str) -> Path:
    """The first leaf path matching ``field`` (``[*]`` stands for any list item)."""
    dump = load_profile(profile_id).model_dump()
    pattern = field.replace("[*]", "*")
    for path, _, value in _leaves(dump):
        if fnmatchcase(_dotted(path), pattern) and not (isinstance(value, float) and value == 0.0):
            return path
    raise AssertionError(f"{profile_id} has no field {field}")


def _state(profile: Profile, scenario: str, span_s: float) -> tuple[Any, ...]:
    sim = LanderSimulation(lander_params(profile), load_scenario(scenario))
    block = sim.advance(span_s)
    return block.t, dict(block.values)


@cache
def _baseline_state(profile_id: str, scenario: str, span_s: float) -> tuple[Any, ...]:
    return _state(load_profile(profile_id), scenario, span_s)


def _same_state(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    if a[0].shape != b[0].shape or not np.array_equal(a[0], b[0]):
        return False
    return all(np.array_equal(a[1][k], b[1][k], equal_nan=True) for k in a[1])


@pytest.mark.parametrize("sample", SIM_SAMPLE, ids=[f"{s[0]}:{s[1]}" for s in SIM_SAMPLE])
def test_perturbed_physics_field_changes_the_simulated_state(sample: tuple[Any, ...]) -> None:
    profile_id, field, run, *value = sample
    path = _resolve(profile_id, field)
    variant = _driving_variant(profile_id, path, tuple(value))
    assert variant is not None, f"{profile_id}: no accepted perturbation of {_dotted(path)} changes the inputs"
    scenario, span = run
    base = _baseline_state(profile_id, scenario, span)
    changed = _state(variant, scenario, span)
    assert not _same_state(base, changed), (
        f"{profile_id}: {_dotted(path)} changes LanderParams but not the {scenario} state over {span:g} s"
    )
    assert math.isfinite(float(changed[0][-1]))


@pytest.mark.parametrize(("field", "value"), [("site.night_floor_k", 60.0),
                                              ("propulsion.propellant_kg", 300.0)])
def test_optional_fields_no_shipped_profile_sets_drive_the_model(field: str, value: float) -> None:
    """Numbers every shipped profile leaves unset (None) are not in the walk above:
    set, they must change the sim's parameters."""
    profile = load_profile("series-2")
    dump = profile.model_dump()
    path = tuple(field.split("."))
    changed = _with(dump, path, value)
    if field == "propulsion.propellant_kg":  # one propellant budget or the other
        changed = _with(changed, ("propulsion", "pre_descent_delta_v_mps"), None)
    built = _build(changed)
    assert built is not None, f"{field} = {value} was rejected"
    assert built[1][0] != _observables(profile)[0], f"{field} = {value} does not reach LanderParams"

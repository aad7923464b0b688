"""Fuzzing the text parsers at the edges: driver URLs, ``--fault`` specs,
scenario files and mappings, the bounded YAML loader and the profile loader
(random YAML-ish text and mutated shipped profiles). Each returns a value or
raises a ConfigError (exit 2 with one line), never a bare Python error."""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lunar_hil.drivers.url import parse_url, redact
from lunar_hil.emulator.binding import (
    band_setup,
    instrument_gates,
    lander_params,
    pick_band,
    telemetry_dictionary,
)
from lunar_hil.emulator.errors import ConfigError
from lunar_hil.emulator.sim.faults import FAULT_KINDS, parse_fault_spec
from lunar_hil.emulator.sim.scenario import load_scenario, scenario_from_mapping
from lunar_hil.emulator.uplink import CommandTable
from lunar_hil.emulator.yamlsafe import load_yaml_text
from lunar_hil.profiles.loader import (
    PROFILE_DIR,
    load_file,
    profile_from_mapping,
    resolve_file,
    shipped_ids,
)

from .strategies import FUZZ, ours_only

_TMP = Path(tempfile.mkdtemp(prefix="lunar-hil-fuzz-"))

# ------------------------------------------------------------------- URLs
_URL_PIECES = st.sampled_from([
    "file:", "file://", "file:///", "udp://", "tcp://", "tcp+connect://", "mqtt://", "serial:",
    "pty", "pty?", "iq:", "loop://", "socket://", "rfc2217://", "user:pw@", "@", ":", "::1",
    "[::1]", "[", "]", "127.0.0.1", "localhost", ":0", ":65535", ":65536", ":-1", ":99999999999",
    "/", "?", "&", "=", "#", "%", "%2F", "%zz", "layer=", "batch=", "qos=", "baud=", "samp_rate=",
    "queue_bytes=", "diff=", "tls=", "stall_ms=", "0", "1", "2", "\u00b2", "9" * 20, "x",
    "topic", "a+b", " ", "\t", "\n", "\x00", "\u202e",
])


@FUZZ
@given(st.lists(_URL_PIECES, max_size=10).map("".join) | st.text(max_size=60))
def test_parse_url(text: str) -> None:
    try:
        url = parse_url(text)
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message
        return
    assert url.scheme
    url.display  # noqa: B018 - the property must not raise
    redact(text)
    for name in ("baud", "queue_bytes", "stall_ms", "qos", "batch", "samp_rate", "diff", "tls"):
        url.int_param(name, 0)


# ----------------------------------------------------------------- faults
_NUMBERS = st.sampled_from(["0", "-1", "1e400", "-1e400", "nan", "inf", "1" * 400, "0x10",
                            "1_000", "", " ", "\u0661", "3600", "0.5", "2"])


@FUZZ
@given(kind=st.sampled_from([*FAULT_KINDS, "", "x", "sensor_dropout "]) | st.text(max_size=8),
       at=_NUMBERS | st.text(max_size=6),
       params=st.lists(st.tuples(st.sampled_from(["fraction", "sensor", "duration", "jump_m",
                                                  "below_altitude_m", "x", ""]),
                                 _NUMBERS | st.sampled_from(["lrf", "imu", "gps"])), max_size=3),
       junk=st.text(max_size=4))
def test_parse_fault_spec(kind: str, at: str, params: list[tuple[str, str]], junk: str) -> None:
    tail = ",".join(f"{k}={v}" for k, v in params)
    for text in (f"{kind}@{at}", f"{kind}@{at}:{tail}", f"{kind}@{at}:{tail}{junk}",
                 f"{kind}{junk}{at}"):
        try:
            fault = parse_fault_spec(text)
        except ConfigError:
            continue
        assert math.isfinite(fault.at_s) and fault.at_s >= 0
        assert parse_fault_spec(fault.describe()) == fault


# -------------------------------------------------------------- scenarios
_YAML_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**400), 10**400), st.floats(),
    st.text(max_size=12), st.sampled_from(["descent", "cruise", "surface", "2027-01-01T00:00:00Z",
                                           "heater_stuck_on@10", "1e400", "Z", "9999-12-31"]),
)
_YAML_VALUES = st.recursive(_YAML_SCALARS, lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                            max_leaves=8)
_SCENARIO_KEYS = ["name", "description", "phase", "duration_s", "start_local_time_h",
                  "solar_declination_deg", "relay_deploy_s", "faults", "epoch"]
_FAULT_ITEMS = st.one_of(
    _YAML_VALUES,
    st.fixed_dictionaries({"kind": st.sampled_from(list(FAULT_KINDS)), "at_s": _YAML_SCALARS},
                          optional={"duration_s": _YAML_SCALARS,
                                    "params": st.dictionaries(
                                        st.sampled_from(["fraction", "sensor", "jump_m"]),
                                        _YAML_SCALARS, max_size=2)}),
)


@FUZZ
@given(base=st.fixed_dictionaries({"name": st.just("x"), "phase": st.just("descent"),
                                   "duration_s": st.just(60)}),
       extra=st.dictionaries(st.sampled_from(_SCENARIO_KEYS), _YAML_VALUES, max_size=3),
       faults=st.lists(_FAULT_ITEMS, max_size=3))
def test_scenario_from_mapping(base: dict[str, Any], extra: dict[str, Any],
                               faults: list[Any]) -> None:
    data = {**base, **extra}
    if faults:
        data["faults"] = faults
    try:
        scenario = scenario_from_mapping(data, source="fuzz.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.yaml: ")
        return
    assert scenario.duration_s > 0 and math.isfinite(scenario.duration_s)
    for fault in scenario.faults:
        assert math.isfinite(fault.at_s)


@FUZZ
@given(text=st.text(max_size=300))
def test_scenario_file_of_random_text(text: str) -> None:
    path = _TMP / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_scenario(str(path))
    except ConfigError as exc:
        assert "\n" not in str(exc)


# ------------------------------------------------------------------- YAML
_YAMLISH = st.lists(st.sampled_from([
    "a", ": ", "- ", "\n", "  ", "&x ", "*x", "[", "]", "{", "}", ",", "!!python/object:os.system",
    "!!binary ", "!!int ", "!!float ", "!!timestamp ", "? ", "|", ">", "'", '"', "#", "---\n",
    "...\n", "%YAML 1.1\n", "<<: *x\n", "1e400", "0x", "0o8", ".inf", ".nan", "~", "2027-13-45",
    "\t", "\\", "\u00e9", "\ufeff", "\x85", "\x00", "!!set ", "!!omap ", "!!pairs ",
    "!!str ", "!!null ", "!!bool ", "!!seq ", "!!map ", "!<tag:yaml.org,2002:int> ", "!x ",
]), max_size=40).map("".join)


@settings(FUZZ, max_examples=4 * FUZZ.max_examples)
@given(text=_YAMLISH | st.text(max_size=200))
def test_bounded_yaml_loader(text: str) -> None:
    try:
        load_yaml_text(text, "fuzz.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.yaml")
        assert "\n" not in str(exc)


# --------------------------------------------------------------- profiles
#: Every shipped profile, its ``extends`` chain applied (what validation sees).
_SHIPPED = {pid: resolve_file(PROFILE_DIR / f"{pid}.yaml") for pid in shipped_ids()}
_HOSTILE = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, -1, 1, 2**63, 10**400, -(10**400), 65536,
                                               1e308, math.inf, -math.inf, math.nan, 1e-320,
                                               -1e-320, 1e-300, 0.5, 2**31, 10**12 + 1, 2047,
                                               2048, 255, 256, "0x10", "1e3", "X", "AOS"]),
    st.text(max_size=6), st.just([]), st.just({}), st.just({"value": 1}),
    st.just({"value": math.inf, "source": "assumed: fuzz"}),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def _profile_edits(draw: st.DrawFn) -> tuple[str, list[tuple[tuple[Any, ...], Any]]]:
    pid = draw(st.sampled_from(sorted(_SHIPPED)))
    paths = _paths(_SHIPPED[pid])[1:]
    edits = draw(st.lists(st.tuples(st.sampled_from(paths), _HOSTILE | st.just("<delete>")),
                          min_size=1, max_size=3))
    return pid, edits


@FUZZ
@given(case=_profile_edits())
def test_mutated_shipped_profile(case: tuple[str, list[tuple[tuple[Any, ...], Any]]]) -> None:
    pid, edits = case
    data = copy.deepcopy(_SHIPPED[pid])
    for path, value in edits:
        node = data
        try:
            for key in path[:-1]:
                node = node[key]
            if value == "<delete>":
                del node[path[-1]]
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced the path
    try:
        profile = profile_from_mapping(data, f"{pid}.yaml")
    except ConfigError as exc:
        assert all(line.startswith(f"{pid}.yaml: ") for line in str(exc).splitlines())
        return
    # What validates, a run can build (issue 11: one rule set for validate and run).
    with ours_only():
        lander_params(profile)
        instrument_gates(profile)
        CommandTable.from_profile(profile)
        for band in profile.bands:
            assert pick_band(profile, band.name) is band
            band_setup(band)
            telemetry_dictionary(profile, band)


@FUZZ
@given(text=_YAMLISH | st.text(max_size=200), extends=st.booleans())
def test_profile_file_of_random_text(text: str, extends: bool) -> None:
    path = _TMP / "profile.yaml"
    body = ("extends: apex-1.0\n" if extends else "") + text
    path.write_text(body, encoding="utf-8")
    try:
        load_file(path)
    except ConfigError as exc:
        assert all(line.startswith(str(path)) for line in str(exc).splitlines())

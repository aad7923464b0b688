"""Scenarios: what happens to the lander, as a small user-writable YAML file.

A scenario fixes the starting phase (cruise in lunar orbit, powered descent or
on the surface), the lunar local solar time at t = 0, its duration, the faults to
inject and the mission events (relay deployments). It never fixes the lander:
that is the profile's business. Shipped scenarios live in
``emulator/scenarios/*.yaml``; :func:`load_scenario` takes one of their names or
a path. Format::

    name: lunar-night
    description: one line
    phase: surface            # cruise | descent | surface
    duration_s: 1382400
    epoch: 2027-01-01T00:00:00Z  # UTC; the Sun and Earth follow this date
    start_local_time_h: 17.0  # optional: start at the first time after the
                              # epoch when the site's local solar time is this
    solar_declination_deg: 0.0   # optional what-if, -1.54..1.54 (else from the date)
    relay_deploy_s: [600, 1800]  # optional (cruise), one entry per relay
    bands:                       # optional band steps: the downlink switches band
      - {at_s: 0, band: S}       #   (rate, frame length and coding change together)
      - {at_s: 1800, band: Ka}
    faults:                      # optional: CLI strings or mappings
      - heater_stuck_off@3600
      - {kind: sensor_dropout, at_s: 60, duration_s: 30, params: {sensor: lrf}}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, ScenarioError
from ..timebase import parse_utc
from ..yamlsafe import YamlRefused, load_yaml_file
from .faults import BANDS, Fault, parse_fault_spec

__all__ = ["DEFAULT_EPOCH_UTC", "PHASES", "Scenario", "list_scenarios", "load_scenario", "scenario_from_mapping"]

PHASES = ("cruise", "descent", "surface")
#: Epoch of a scenario that names none (tests, hand-written files).
DEFAULT_EPOCH_UTC = datetime(2027, 1, 1, tzinfo=UTC)
_MAX_DECLINATION_DEG = 1.54  # the Moon's equator is tilted 1.54° to the ecliptic
_KEYS = {
    "name", "description", "phase", "duration_s", "start_local_time_h",
    "solar_declination_deg", "relay_deploy_s", "faults", "epoch", "bands",
}


@dataclass(frozen=True)
class Scenario:
    """A validated scenario (see the module docstring for the YAML form)."""

    name: str
    description: str
    duration_s: float
    phase: str
    start_local_time_h: float | None = None
    faults: tuple[Fault, ...] = ()
    solar_declination_deg: float | None = None
    relay_deploy_s: tuple[float, ...] = ()
    source: str = ""  # file it came from, for messages
    epoch_utc: datetime = DEFAULT_EPOCH_UTC
    #: Band steps: (sim time, band name), in time order.
    band_steps: tuple[tuple[float, str], ...] = ()

    def with_faults(self, faults: Sequence[Fault]) -> Scenario:
        """A copy with more faults appended (e.g. from the CLI)."""
        return dataclasses.replace(self, faults=(*self.faults, *faults))

    def with_epoch(self, epoch_utc: datetime) -> Scenario:
        """A copy starting at another UTC date (``--epoch``)."""
        return dataclasses.replace(self, epoch_utc=epoch_utc)


def _scenario_dir() -> Any:
    return resources.files("lunar_hil.emulator").joinpath("scenarios")


def list_scenarios() -> list[str]:
    """Names of the shipped scenarios, sorted."""
    return sorted(
        entry.name[: -len(".yaml")]
        for entry in _scenario_dir().iterdir()
        if entry.name.endswith(".yaml")
    )


def load_scenario(name_or_path: str) -> Scenario:
    """Load a shipped scenario by name, or a YAML file by path.

    Errors raise :class:`ScenarioError` as one line ``FILE: field: message``.
    """
    shipped = _scenario_dir().joinpath(f"{name_or_path}.yaml")
    if "/" not in name_or_path and not name_or_path.endswith((".yaml", ".yml")) and shipped.is_file():
        label, text = f"{name_or_path}.yaml", shipped.read_text(encoding="utf-8")
    else:
        path = Path(name_or_path)
        label = str(path)
        if not path.is_file():
            names = ", ".join(list_scenarios())
            raise ScenarioError(f"{label}: no such scenario file or shipped scenario ({names})")
        try:  # bounded size/depth/aliases, YAML suffix, no file text in errors
            return scenario_from_mapping(load_yaml_file(path, label), source=label)
        except YamlRefused as exc:
            raise ScenarioError(str(exc)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ScenarioError(f"{label}: {where}{problem}") from None
    return scenario_from_mapping(data, source=label)


def scenario_from_mapping(data: Any, *, source: str = "<scenario>") -> Scenario:
    """Validate a parsed YAML document into a :class:`Scenario`."""

    def fail(fieldname: str, message: str) -> ScenarioError:
        return ScenarioError(f"{source}: {fieldname}: {message}")

    if not isinstance(data, Mapping):
        raise ScenarioError(f"{source}: the document must be a mapping of fields")
    for key in data:
        if key not in _KEYS:
            raise fail(str(key), f"unknown field (known: {', '.join(sorted(_KEYS))})")
    for required in ("name", "phase", "duration_s"):
        if required not in data:
            raise fail(required, "missing")

    def number(key: str, default: float) -> float:
        value = data.get(key, default)
        number = _finite(value)
        if number is None:
            raise fail(key, f"must be a number, got {_short(value)}")
        return number

    name = data["name"]
    if not isinstance(name, str) or not name:
        raise fail("name", "must be a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "must be a string")
    phase = data["phase"]
    if phase not in PHASES:
        raise fail("phase", f"must be one of {', '.join(PHASES)}, got {phase!r}")
    duration = number("duration_s", 0.0)
    if duration <= 0:
        raise fail("duration_s", "must be > 0")
    local_time: float | None = None
    if data.get("start_local_time_h") is not None:
        local_time = number("start_local_time_h", 12.0)
        if not 0.0 <= local_time < 24.0:
            raise fail("start_local_time_h", "must be in 0..24")
    declination: float | None = None
    if data.get("solar_declination_deg") is not None:
        declination = number("solar_declination_deg", 0.0)
        if abs(declination) > _MAX_DECLINATION_DEG:
            raise fail("solar_declination_deg", "must be within ±1.54 (lunar axial tilt)")
    epoch = DEFAULT_EPOCH_UTC
    if "epoch" in data:
        raw_epoch = data["epoch"]
        if isinstance(raw_epoch, datetime):  # YAML reads an unquoted timestamp itself
            raw_epoch = raw_epoch.isoformat()
        if not isinstance(raw_epoch, str):
            raise fail("epoch", f"must be an ISO 8601 UTC time, got {raw_epoch!r}")
        try:
            epoch = parse_utc(raw_epoch)
        except ConfigError as exc:
            raise fail("epoch", str(exc)) from None

    relays_raw = data.get("relay_deploy_s", []) or []
    if not isinstance(relays_raw, list):
        raise fail("relay_deploy_s", "must be a list of times in seconds")
    relays: list[float] = []
    for i, value in enumerate(relays_raw):
        t_s = _finite(value)
        if t_s is None or t_s < 0:
            raise fail(f"relay_deploy_s[{i}]", f"must be a time >= 0, got {_short(value)}")
        relays.append(t_s)

    faults_raw = data.get("faults", []) or []
    if not isinstance(faults_raw, list):
        raise fail("faults", "must be a list")
    faults: list[Fault] = []
    for i, item in enumerate(faults_raw):
        try:
            faults.append(_fault(item))
        except ScenarioError as exc:
            raise fail(f"faults[{i}]", str(exc)) from None
    steps_raw = data.get("bands", []) or []
    if not isinstance(steps_raw, list):
        raise fail("bands", "must be a list of {at_s: SECONDS, band: S|X|Ka}")
    steps: list[tuple[float, str]] = []
    for i, item in enumerate(steps_raw):
        if not isinstance(item, Mapping) or set(item) != {"at_s", "band"}:
            raise fail(f"bands[{i}]", "must be a mapping {at_s: SECONDS, band: S|X|Ka}")
        at = _finite(item["at_s"])
        if at is None or at < 0:
            raise fail(f"bands[{i}].at_s", f"must be a time >= 0, got {_short(item['at_s'])}")
        if item["band"] not in BANDS:
            raise fail(f"bands[{i}].band", f"must be one of {', '.join(BANDS)}, "
                       f"got {_short(item['band'])}")
        steps.append((at, str(item["band"])))
    return Scenario(
        name=name, description=description, duration_s=duration, phase=phase,
        start_local_time_h=local_time, faults=tuple(faults),
        solar_declination_deg=declination, relay_deploy_s=tuple(sorted(relays)),
        source=source, epoch_utc=epoch, band_steps=tuple(sorted(steps)),
    )


def _fault(item: Any) -> Fault:
    if isinstance(item, str):
        return parse_fault_spec(item)
    if not isinstance(item, Mapping):
        raise ScenarioError("must be a string KIND@SECONDS[:k=v,...] or a mapping")
    unknown = set(item) - {"kind", "at_s", "params", "duration_s"}
    if unknown:
        raise ScenarioError(f"unknown key {sorted(unknown)[0]!r}")
    if "kind" not in item or "at_s" not in item:
        raise ScenarioError("needs kind and at_s")
    params = item.get("params", {}) or {}
    if not isinstance(params, Mapping):
        raise ScenarioError("params must be a mapping")
    at_s = _finite(item["at_s"])
    duration = item.get("duration_s")
    if at_s is None:
        raise ScenarioError(f"at_s must be a number, got {_short(item['at_s'])}")
    if duration is not None:
        duration = _finite(duration)
        if duration is None:
            raise ScenarioError(f"duration_s must be a number, got {_short(item['duration_s'])}")
    return Fault(kind=str(item["kind"]), at_s=at_s, params=dict(params), duration_s=duration)


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a finite number.

    YAML reads ``1`` followed by 400 zeros as an int that ``float()`` and
    ``math.isfinite`` cannot take (OverflowError): that is refused here too.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _short(value: Any) -> str:
    """The repr of a refused value, cut short (a 400-digit number is one line)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

"""Fault injection: what can break, when, and for how long.

A fault is a value: ``kind`` at sim time ``at_s`` with a few parameters and an
optional duration (``None`` = permanent). The simulation applies it at the first
physics step at or after ``at_s``. The CLI form is::

    KIND@SECONDS[:key=value,key=value...]

e.g. ``heater_stuck_off@3600``, ``battery_cell_loss@7200:fraction=0.25``,
``sensor_dropout@60:sensor=lrf,duration=30``, ``lrf_altitude_jump@400:jump_m=3000``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import ScenarioError

__all__ = ["FAULT_KINDS", "Fault", "parse_fault_spec"]

#: kind -> {parameter: default}. A default of ``None`` marks a required parameter;
#: a str default marks a text parameter with the allowed values in TEXT_CHOICES.
FAULT_KINDS: Mapping[str, Mapping[str, float | str | None]] = MappingProxyType({
    # Loss of a fraction of battery capacity (a cell string opens). Energy above
    # the new capacity is lost with it.
    "battery_cell_loss": {"fraction": 0.25},
    "heater_stuck_off": {},
    "heater_stuck_on": {},
    # A sensor stops delivering data (lrf: no range; imu: the estimator freezes
    # its velocity; thermal: the thermostat holds its last state).
    "sensor_dropout": {"sensor": "lrf"},
    # Output loss of the arrays (dust, cell string failure).
    "solar_array_degradation": {"fraction": 0.3},
    # HAKUTO-R Mission 1 (April 2023): the terrain below drops by jump_m at
    # once (a crater rim), then slope_drop_m more over slope_length_m downrange.
    # With below_altitude_m > 0 the rim is crossed at the first step after
    # at_s with the lander that low (so one scenario fits landers of any speed).
    "lrf_altitude_jump": {"jump_m": 3000.0, "slope_drop_m": 0.0, "slope_length_m": 20000.0,
                          "below_altitude_m": 0.0},
    # The named band's transmitter (or its amplifier) fails: the downlink falls
    # back to S-band (else another working band) and that band refuses switches
    # until the fault clears (``duration``). It acts in the downlink engine.
    "transmitter_fault": {"band": "Ka"},
})

SENSORS = ("lrf", "imu", "thermal")
BANDS = ("S", "X", "Ka")
#: Allowed values of the text parameters.
TEXT_CHOICES: Mapping[str, tuple[str, ...]] = MappingProxyType({"sensor": SENSORS,
                                                                "band": BANDS})


@dataclass(frozen=True)
class Fault:
    """One injected fault: ``kind`` starting at sim time ``at_s`` (s)."""

    kind: str
    at_s: float
    params: Mapping[str, float | str] = field(default_factory=dict)
    duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ScenarioError(
                f"fault {self.kind!r}: unknown kind (one of {', '.join(FAULT_KINDS)})"
            )
        if not (math.isfinite(self.at_s) and self.at_s >= 0):
            raise ScenarioError(f"fault {self.kind}: time must be a number >= 0")
        if self.duration_s is not None and not (
            math.isfinite(self.duration_s) and self.duration_s > 0
        ):
            raise ScenarioError(f"fault {self.kind}: duration must be > 0")
        allowed = FAULT_KINDS[self.kind]
        merged: dict[str, float | str] = {}
        for key, default in allowed.items():
            if default is not None:
                merged[key] = default
        for key, value in self.params.items():
            if key not in allowed:
                names = ", ".join(allowed) or "none"
                raise ScenarioError(
                    f"fault {self.kind}: unknown parameter {key!r} (allowed: {names})"
                )
            default = allowed[key]
            if isinstance(default, str):
                choices = TEXT_CHOICES[key]
                if value not in choices:
                    raise ScenarioError(
                        f"fault {self.kind}: {key} must be one of {', '.join(choices)}, got {value!r}"
                    )
                merged[key] = str(value)
            else:
                merged[key] = _number(self.kind, key, value)
        for key in ("fraction",):
            if key in merged and not 0.0 <= float(merged[key]) <= 1.0:
                raise ScenarioError(f"fault {self.kind}: fraction must be in 0..1")
        object.__setattr__(self, "params", MappingProxyType(merged))

    @property
    def end_s(self) -> float:
        """End of the fault (inf when permanent)."""
        return math.inf if self.duration_s is None else self.at_s + self.duration_s

    def active(self, t_s: float) -> bool:
        """Whether the fault acts at sim time ``t_s``."""
        return self.at_s <= t_s < self.end_s

    def number(self, key: str) -> float:
        """A numeric parameter."""
        return float(self.params[key])

    def text(self, key: str) -> str:
        """A text parameter."""
        return str(self.params[key])

    def describe(self) -> str:
        """The CLI form of this fault."""
        parts = [f"{k}={v}" for k, v in self.params.items()]
        if self.duration_s is not None:
            parts.append(f"duration={self.duration_s:g}")
        tail = ":" + ",".join(parts) if parts else ""
        return f"{self.kind}@{self.at_s:g}{tail}"


def _number(kind: str, key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ScenarioError(f"fault {kind}: {key} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        # OverflowError: an int from YAML too large for a float (1 and 400 zeros).
        text = repr(value)
        text = text if len(text) <= 40 else text[:37] + "..."
        raise ScenarioError(f"fault {kind}: {key} must be a number, got {text}") from None
    if not math.isfinite(number):
        raise ScenarioError(f"fault {kind}: {key} must be finite")
    return number


def parse_fault_spec(text: str) -> Fault:
    """Parse the CLI form ``KIND@SECONDS[:key=value,...]`` (``duration`` is a key).

    Raises :class:`ScenarioError` with a one-line message naming the problem.
    """
    spec = text.strip()
    if "@" not in spec:
        raise ScenarioError(f"fault spec {text!r}: expected KIND@SECONDS[:key=value,...]")
    kind, _, rest = spec.partition("@")
    kind = kind.strip()
    when, _, tail = rest.partition(":")
    try:
        at_s = float(when)
    except ValueError:
        raise ScenarioError(f"fault spec {text!r}: time {when!r} is not a number") from None
    params: dict[str, float | str] = {}
    duration: float | None = None
    if tail.strip():
        for item in tail.split(","):
            key, eq, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or not key or not value:
                raise ScenarioError(f"fault spec {text!r}: expected key=value, got {item!r}")
            if key in params or (key == "duration" and duration is not None):
                raise ScenarioError(f"fault spec {text!r}: {key} given twice")
            if key == "duration":
                duration = _number(kind, key, value)
            else:
                params[key] = value
    try:
        return Fault(kind=kind, at_s=at_s, params=params, duration_s=duration)
    except ScenarioError as exc:
        raise ScenarioError(f"fault spec {text!r}: {exc}") from None

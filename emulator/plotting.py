"""Telemetry plots from ``lunar-hil decode --params-out`` files (matplotlib, Agg backend).

A params file holds one JSON object per packet: ``{apid, seq, time, params}``
with ``time`` in CUC seconds since 1958 TAI. Each parameter becomes a trace
against hours since the first packet of its file; several files overlay on the
same axes (for example two landers through the same night), one colour per file.

Presets are one word each and name the parameters they want; a wanted
parameter the files do not have is skipped with a note (profiles differ, and
link parameters depend on the links model), unless none of them is there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from .errors import ConfigError


@dataclass(frozen=True)
class Panel:
    """One subplot: a title and the parameters (exact names or ``PREFIX*`` patterns) it shows."""

    title: str
    wanted: tuple[str, ...]


PRESETS: Final[dict[str, tuple[Panel, ...]]] = {
    "night": (
        Panel("battery state of charge", ("PWR_BATT_SOC",)),
        Panel("temperatures (degC)", ("THM_*_C",)),
        Panel("heater power (W)", ("PWR_HEATER_W",)),
        Panel("solar power (W)", ("PWR_SOLAR_W",)),
    ),
    "descent": (
        Panel("altitude: true and estimated (m)", ("GNC_ALTITUDE_M", "GNC_ALTITUDE_EST_M")),
        Panel("vertical speed (m/s)", ("GNC_VERT_VEL_MPS",)),
        Panel("propellant (kg)", ("GNC_PROPELLANT_KG",)),
        Panel("throttle", ("GNC_THROTTLE*", "GNC_THRUST_N")),
    ),
    "links": (
        Panel("link up", ("COM_LINK_UP",)),
        Panel("path", ("COM_PATH*", "COM_RELAY_VISIBLE")),
        Panel("Eb/N0 (dB)", ("COM_EBN0*", "COM_EB_N0*")),
    ),
}


@dataclass
class Series:
    """Values of one parameter from one file, against hours since the file's first packet."""

    hours: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


def read_params(path: str | Path) -> dict[str, Series]:
    """All parameters of a params file; ConfigError naming the file and line on bad input."""
    series: dict[str, Series] = {}
    t0: float | None = None
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            time = record["time"]
            params = record["params"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{path}:{number}: not a decode --params-out record") from None
        if time is None or not isinstance(params, dict):
            continue  # a packet decode could not read (it says why in "error")
        t0 = time if t0 is None else t0
        for name, value in params.items():
            if isinstance(value, (int, float)):
                s = series.setdefault(name, Series())
                s.hours.append((time - t0) / 3600.0)
                s.values.append(float(value))
    if not series:
        raise ConfigError(f"{path}: no telemetry values")
    return series


def _matches(wanted: str, names: Iterable[str]) -> list[str]:
    if wanted.endswith("*") or "*" in wanted:
        import fnmatch

        return sorted(n for n in names if fnmatch.fnmatchcase(n, wanted))
    return [wanted] if wanted in names else []


def resolve_panels(panels: Sequence[Panel], names: set[str]) -> tuple[list[tuple[Panel, list[str]]], list[str]]:
    """Panels with the parameters present, and notes on what is skipped."""
    out: list[tuple[Panel, list[str]]] = []
    notes: list[str] = []
    for panel in panels:
        found: list[str] = []
        for wanted in panel.wanted:
            hits = _matches(wanted, names)
            found += [h for h in hits if h not in found]
        if found:
            out.append((panel, found))
        else:
            notes.append(f"skipping '{panel.title}': none of {', '.join(panel.wanted)} in the data")
    return out, notes


def plot(files: Sequence[str | Path], out: str | Path, *, params: Sequence[str] | None = None,
         preset: str | None = None, title: str | None = None) -> list[str]:
    """Write the PNG; return the notes about skipped parameters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if (params is None) == (preset is None):
        raise ConfigError("give either --params P1,P2 or --preset NAME")
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"--preset {preset}: expected one of {', '.join(PRESETS)}")
        panels = PRESETS[preset]
    else:
        panels = tuple(Panel(p, (p,)) for p in params or ())
    data = {str(f): read_params(f) for f in files}
    names = set().union(*(set(d) for d in data.values()))
    resolved, notes = resolve_panels(panels, names)
    if not resolved:
        wanted = ", ".join(w for p in panels for w in p.wanted)
        raise ConfigError(f"none of the parameters ({wanted}) is in {', '.join(data)}")
    fig, axes = plt.subplots(len(resolved), 1, figsize=(10, 2.4 * len(resolved) + 0.8),
                             sharex=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    for ax, (panel, found) in zip(axes[:, 0], resolved, strict=True):
        for fi, (fname, series) in enumerate(data.items()):
            for pi, name in enumerate(found):
                if name not in series:
                    continue
                s = series[name]
                label = name if len(data) == 1 else f"{Path(fname).stem}: {name}"
                ax.plot(s.hours, s.values, styles[pi % len(styles)],
                        color=colours[(fi if len(data) > 1 else pi) % len(colours)],
                        label=label, linewidth=1.2, drawstyle="steps-post"
                        if name.endswith(("_UP", "_ON", "_VISIBLE")) else "default")
        ax.set_title(panel.title, fontsize=10, loc="left")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[-1, 0].set_xlabel("hours since the first packet")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=110)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return notes

"""What ``lunar-hil links`` reports: visibility fractions, windows, light time
and margins of a :class:`LinkSchedule`, as a JSON-ready dict, a text table and
a matplotlib timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .schedule import DIRECT, LinkSchedule, Window

__all__ = ["links_summary", "links_table", "plot_links"]

FloatArray = npt.NDArray[np.float64]


def _frac(mask: npt.NDArray[np.bool_]) -> float:
    return round(float(np.mean(mask)), 4) if mask.size else 0.0


def _stats(values: FloatArray, digits: int = 2) -> dict[str, float] | None:
    v = values[np.isfinite(values)]
    if not v.size:
        return None
    return {"min": round(float(v.min()), digits), "median": round(float(np.median(v)), digits),
            "max": round(float(v.max()), digits)}


def _window_stats(windows: list[Window], span_s: float) -> dict[str, Any]:
    """Count, mean length and the longest gap between windows (hours)."""
    if not windows:
        return {"count": 0, "mean_h": 0.0, "longest_gap_h": round(span_s / 3600, 2)}
    edges = [0.0] + [x for w in windows for x in (w.start_s, w.end_s)] + [span_s]
    gaps = [b - a for a, b in zip(edges[::2], edges[1::2], strict=True)]
    return {"count": len(windows),
            "mean_h": round(float(np.mean([w.duration_s for w in windows])) / 3600, 2),
            "longest_gap_h": round(max(gaps) / 3600, 2)}


def links_summary(s: LinkSchedule, *, profile_id: str = "", site_name: str = "") -> dict[str, Any]:
    """The ``links --json`` object (keys of the command-line contract plus more)."""
    span = float(s.seconds[-1] + s.step_s)
    station_up = np.asarray(s.relay_station_visible().any(axis=1), dtype=np.bool_)  # (R, N)
    relays = []
    for r, rel in enumerate(s.relays):
        seen = s.relay_visible[r]
        relays.append({
            "name": rel.name,
            "visible_fraction": _frac(seen),
            "relayed_fraction": _frac(seen & station_up[r]),
            "windows": _window_stats(s.windows(seen), span),
            "range_km": _stats(np.where(seen, s.relay_range_km[r], np.nan), 0),
        })
    dte = s.dte_visible()
    stations = [{
        "name": st.name, "network": st.network, "bands": list(st.bands),
        "dte_fraction": _frac(dte[k]),
        "passes": _window_stats(s.windows(dte[k]), span),
    } for k, st in enumerate(s.stations)]
    bands = []
    delivering = np.zeros(s.seconds.size, dtype=bool)
    light = np.full(s.seconds.size, np.nan)
    for name in s.bands:
        tl = s.timeline(name)
        up = (tl.path_index >= 0) & ~tl.relay_store
        delivering |= up
        light = np.where(up & ~np.isfinite(light), tl.light_time_s, light)
        paths = {DIRECT: _frac(tl.path_index == 0)}
        for r, rel in enumerate(s.relays):
            paths[rel.name] = _frac((tl.path_index == 1 + r) & ~tl.relay_store)
        bands.append({
            "name": name,
            "delivering_fraction": _frac(up),
            "relay_store_fraction": _frac(tl.relay_store),
            "no_path_fraction": _frac(tl.path_index < 0),
            "paths": paths,
            "windows": _window_stats(s.windows(up), span),
            "light_time_s": _stats(np.where(up, tl.light_time_s, np.nan), 4),
            "ebn0_db": _stats(np.where(up, tl.ebn0_db, np.nan)),
            "margin_db": _stats(np.where(up, tl.margin_db, np.nan)),
        })
    lt = _stats(light, 4)
    return {
        "profile": profile_id,
        "epoch": s.epoch.isoformat().replace("+00:00", "Z"),
        "days": round(float(s.seconds[-1]) / 86400, 4),
        "step_s": s.step_s,
        "site": {"name": site_name, "latitude_deg": s.site.latitude_deg,
                 "longitude_deg": s.site.longitude_deg},
        "relays": relays,
        "relay_coverage_fraction": _frac(s.relay_coverage),
        "earth_visible_fraction": _frac(s.earth_visible),
        "dte_fraction": _frac(np.asarray(dte.any(axis=0), dtype=np.bool_)) if dte.size else 0.0,
        "any_path_fraction": _frac(delivering),
        "light_time_s": {"min": lt["min"], "max": lt["max"]} if lt else {"min": None, "max": None},
        "earth_centre_light_time_s": _stats(s.earth_range_km / 299792.458, 4),
        "stations": stations,
        "bands": bands,
    }


def links_table(d: dict[str, Any]) -> str:
    """The human view of :func:`links_summary`."""
    lines = [
        f"{d['profile']}: site {d['site']['name']} ({d['site']['latitude_deg']:.2f}, "
        f"{d['site']['longitude_deg']:.2f}), {d['days']:g} days from {d['epoch']}, step {d['step_s']:g} s",
        f"Earth above the site's horizon {100 * d['earth_visible_fraction']:.1f}%  "
        f"direct to Earth (any station) {100 * d['dte_fraction']:.1f}%  "
        f"relay coverage {100 * d['relay_coverage_fraction']:.1f}%  "
        f"some band delivering {100 * d['any_path_fraction']:.1f}%",
    ]
    lt = d["light_time_s"]
    if lt["min"] is not None:
        lines.append(f"one-way light time lander -> station: {lt['min']:.4f} .. {lt['max']:.4f} s")
    else:
        lines.append("one-way light time: no path to a station in the span")
    if d["relays"]:
        lines += ["", f"{'relay':<16}{'sees lander':>12}{'and a station':>15}{'windows':>9}"
                  f"{'mean h':>8}{'longest gap h':>15}"]
        for r in d["relays"]:
            w = r["windows"]
            lines.append(f"{r['name']:<16}{100 * r['visible_fraction']:>11.1f}%"
                         f"{100 * r['relayed_fraction']:>14.1f}%{w['count']:>9}{w['mean_h']:>8.2f}"
                         f"{w['longest_gap_h']:>15.2f}")
    lines += ["", f"{'station (DTE)':<18}{'network':<9}{'bands':<8}{'up':>7}{'passes':>8}"
              f"{'mean h':>8}{'longest gap h':>15}"]
    for st in d["stations"]:
        w = st["passes"]
        lines.append(f"{st['name']:<18}{st['network']:<9}{','.join(st['bands']):<8}"
                     f"{100 * st['dte_fraction']:>6.1f}%{w['count']:>8}{w['mean_h']:>8.2f}"
                     f"{w['longest_gap_h']:>15.2f}")
    lines += ["", f"{'band':<5}{'delivering':>11}{'relay stores':>13}{'no path':>9}"
              f"{'Eb/N0 dB min/med':>18}{'margin dB min/med/max':>24}  paths"]
    for b in d["bands"]:
        e, m = b["ebn0_db"], b["margin_db"]
        es = f"{e['min']:.1f}/{e['median']:.1f}" if e else "-"
        ms = f"{m['min']:.1f}/{m['median']:.1f}/{m['max']:.1f}" if m else "-"
        paths = " ".join(f"{k}={100 * v:.0f}%" for k, v in b["paths"].items() if v)
        lines.append(f"{b['name']:<5}{100 * b['delivering_fraction']:>10.1f}%"
                     f"{100 * b['relay_store_fraction']:>12.1f}%{100 * b['no_path_fraction']:>8.1f}%"
                     f"{es:>18}{ms:>24}  {paths or '-'}")
    return "\n".join(lines)


def plot_links(s: LinkSchedule, path: Path, *, title: str = "") -> None:
    """Visibility timeline (one row per link) and margins per band, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = s.seconds / 86400.0
    rows: list[tuple[str, npt.NDArray[np.bool_]]] = [("Earth above horizon", s.earth_visible)]
    dte = s.dte_visible()
    rows += [(f"DTE {st.name}", dte[k]) for k, st in enumerate(s.stations)]
    station_up = np.asarray(s.relay_station_visible().any(axis=1), dtype=np.bool_)
    for r, rel in enumerate(s.relays):
        rows.append((f"lander sees {rel.name}", s.relay_visible[r]))
        rows.append((f"{rel.name} sees a station", station_up[r]))
    if s.relays:
        rows.append(("relay coverage", s.relay_coverage))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 0.32 * len(rows) + 4.5), sharex=True,
                                   gridspec_kw={"height_ratios": [max(len(rows), 3), 4]})
    for i, (_label, up) in enumerate(rows):
        for w in s.windows(up):
            ax1.broken_barh([(w.start_s / 86400, w.duration_s / 86400)], (i - 0.4, 0.8),
                            color="tab:blue" if "DTE" in _label or "Earth" in _label else "tab:green")
    ax1.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    ax1.set_ylim(len(rows) - 0.5, -0.5)
    ax1.set_title(title or "link visibility")
    ax1.grid(axis="x", alpha=0.3)
    for name in s.bands:
        tl = s.timeline(name)
        m = np.where((tl.path_index >= 0) & ~tl.relay_store, tl.margin_db, np.nan)
        ax2.plot(days, m, lw=0.8, label=f"{name}-band")
    ax2.axhline(0.0, color="k", lw=0.6)
    ax2.set_ylabel("margin (dB)")
    ax2.set_xlabel(f"days after {s.epoch.isoformat().replace('+00:00', 'Z')}")
    ax2.legend(fontsize=8, loc="upper right")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

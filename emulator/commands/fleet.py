"""Fleets: one ``lunar-hil run`` drives several landers.

``--profile`` repeated, or ``--fleet FILE.yaml``, gives the landers; each is a
whole run of its own (simulation, telemetry, engine, sinks, boards, uplink) in
one event loop, with its own lander id (its MQTT topics, ``PREFIX/ID/...``) and
its own spacecraft id (SCID) in every frame and in its TC receiver.

A fleet file::

    landers:
      - profile: apex-1.0           # id or YAML file (required)
        id: apex-a                  # default: the profile id (-2, -3... on repeats)
        scid: 170                   # default: the band's SCID, the next free one on a clash
        band: X                     # default: --band, else the profile's default band
        scenario: surface-nominal   # default: --scenario
        seed: 7                     # default: --seed plus the lander's index
        out: [udp://127.0.0.1:17001]
        board: [gnc=/dev/pts/4]
        uplink: udp://127.0.0.1:18001
        fault: [heater_stuck_off@3600]

``--speed``, ``--duration``, ``--ber``, ``--ideal-link``, ``--idle`` and
``--json`` apply to all.  The command line's ``--out`` and ``--uplink`` URLs
go to every lander with ``{lander}`` replaced by its id; two landers may not
share a sink (an MQTT broker, whose topics carry the lander id, and a fresh
``pty`` excepted), nor a board.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..ccsds import max_scid
from ..errors import ConfigError

__all__ = ["FleetLander", "fleet_landers", "run_fleet"]

#: Keys a lander entry of a fleet file may have.
LANDER_KEYS = frozenset({"profile", "id", "scid", "band", "scenario", "seed", "out", "board",
                         "uplink", "fault"})
_LANDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Schemes several landers may share: topics (MQTT) or a fresh port each (pty).
_SHAREABLE = ("mqtt", "mqtts", "pty")


@dataclass
class FleetLander:
    """One lander of the fleet: its id and the ``run`` arguments that build it."""

    id: str
    args: argparse.Namespace


def _as_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where}: expected a URL or a list of them")


def _entries(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The landers as dicts: from the fleet file, then one per ``--profile``."""
    entries: list[dict[str, Any]] = []
    if args.fleet:
        from ..yamlsafe import load_yaml_file

        doc = load_yaml_file(args.fleet, f"--fleet {args.fleet}")
        landers = doc.get("landers") if isinstance(doc, dict) else None
        if not isinstance(landers, list) or not landers:
            raise ConfigError(f"--fleet {args.fleet}: expected 'landers:' with a list of landers")
        for i, entry in enumerate(landers):
            where = f"--fleet {args.fleet}: landers[{i}]"
            if not isinstance(entry, dict):
                raise ConfigError(f"{where}: expected a mapping with at least 'profile'")
            unknown = sorted(set(map(str, entry)) - LANDER_KEYS)
            if unknown:
                raise ConfigError(f"{where}: unknown key {unknown[0]!r} "
                                  f"(known: {', '.join(sorted(LANDER_KEYS))})")
            if not isinstance(entry.get("profile"), str):
                raise ConfigError(f"{where}: 'profile' (an id or YAML file) is required")
            entries.append({**entry, "_where": where})
    entries += [{"profile": text, "_where": f"--profile {text}"} for text in args.profile]
    return entries


def _int_field(entry: dict[str, Any], key: str) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{entry['_where']}: {key} {value!r} must be an integer")
    return value


def fleet_landers(args: argparse.Namespace) -> list[FleetLander]:
    """Every lander's own ``run`` arguments, checked: ids, SCIDs, sinks and boards unique."""
    from lunar_hil.drivers.url import parse_url
    from lunar_hil.profiles.loader import load_profile

    from ..binding import pick_band

    entries = _entries(args)
    if args.board and len(entries) > 1:
        raise ConfigError("--board: a board serves one lander; give each lander its boards "
                          "in a --fleet file")
    landers: list[FleetLander] = []
    ids: Counter[str] = Counter()
    scids: set[int] = set()
    owners: dict[str, str] = {}  # sink/board/uplink -> lander id
    for index, entry in enumerate(entries):
        where = entry["_where"]
        profile = load_profile(entry["profile"])
        lander_id = entry.get("id")
        if lander_id is None:
            ids[profile.id] += 1
            lander_id = profile.id if ids[profile.id] == 1 else f"{profile.id}-{ids[profile.id]}"
        if not isinstance(lander_id, str) or not _LANDER_ID.fullmatch(lander_id):
            raise ConfigError(f"{where}: id {lander_id!r} must be letters, digits, '_', '.', '-'"
                              " (it is an MQTT topic level)")
        if any(lander.id == lander_id for lander in landers):
            raise ConfigError(f"{where}: lander id {lander_id!r} is used twice")
        band_name = entry.get("band", args.band)
        band = pick_band(profile, band_name)
        limit = max_scid(str(getattr(band.frame_type, "value", band.frame_type))) + 1
        scid = _int_field(entry, "scid")
        if scid is None:
            scid = int(band.scid)
            while scid in scids:  # the same profile twice: the next free SCID (assumed)
                scid = (scid + 1) % limit
        elif not 0 <= scid < limit:
            raise ConfigError(f"{where}: scid {scid} does not fit the {band.name} band's "
                              f"frames (0..{limit - 1})")
        if scid in scids:
            raise ConfigError(f"{where}: scid {scid} is used by another lander")
        scids.add(scid)
        seed = _int_field(entry, "seed")
        outs = [u.replace("{lander}", lander_id) for u in args.out]
        outs += _as_list(entry.get("out"), f"{where}: out")
        boards = list(args.board) + _as_list(entry.get("board"), f"{where}: board")
        uplink = entry.get("uplink", args.uplink)
        if uplink is not None and not isinstance(uplink, str):
            raise ConfigError(f"{where}: uplink must be one URL")
        if uplink is not None:
            uplink = uplink.replace("{lander}", lander_id)
        for what, url in ([("--out", u) for u in outs] + [("--board", b) for b in boards]
                          + ([("--uplink", uplink)] if uplink else [])):
            key = url.partition("=")[2] if what == "--board" else url
            if what != "--board" and parse_url(key).scheme in _SHAREABLE:
                continue
            other = owners.get(key)
            if other is not None:
                raise ConfigError(f"{what} {url}: landers {other} and {lander_id} would share it;"
                                  " put {lander} in the URL or give each lander its own")
            owners[key] = lander_id
        faults = list(args.fault) + _as_list(entry.get("fault"), f"{where}: fault")
        landers.append(FleetLander(lander_id, argparse.Namespace(**{
            **vars(args),
            "profile": entry["profile"], "fleet": None, "band": band_name,
            "scenario": entry.get("scenario", args.scenario),
            "seed": args.seed + index if seed is None else seed,
            "out": outs, "board": boards, "uplink": uplink, "fault": faults,
            "lander_id": lander_id, "scid": scid,
        })))
    return landers


def _totals(summaries: dict[str, dict[str, Any]], wall_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sim_seconds": max((s.get("sim_seconds", 0.0) for s in summaries.values()), default=0.0),
        "wall_seconds": round(wall_s, 3),
    }
    for key in ("frames", "idle_frames", "packets", "bytes_out"):
        out[key] = sum(int(s.get(key, 0)) for s in summaries.values())
    out["landers"] = summaries
    return out


async def _until_signal(coro: Any, caught: list[signal.Signals]) -> Any:
    """Run ``coro``; SIGINT or SIGTERM cancels it (every lander's sinks close and
    flush on the way out) and returns None."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro)

    def on_signal(sig: signal.Signals) -> None:
        if not caught:
            caught.append(sig)
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await task
    except asyncio.CancelledError:
        if caught:
            return None
        raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run_fleet(args: argparse.Namespace) -> int:
    """``run`` with several landers: build all (every error before any byte), run together.

    A signal stops every lander; the summary then has ``interrupted`` and the
    exit status is 130 (SIGINT) or 143 (SIGTERM), as for one lander.
    """
    import time

    from ..errors import EXIT_SIGINT, EXIT_SIGTERM
    from .run import build_emulator

    landers = fleet_landers(args)
    built = []
    for lander in landers:
        emulator, receiver_sink, rig, (profile, band, _scenario) = build_emulator(lander.args)
        built.append((lander, emulator, receiver_sink, rig, profile, band))

    async def main() -> list[dict[str, Any]]:
        runs = [rig.run(emulator) if rig is not None else emulator.run()
                for _lander, emulator, _sink, rig, _p, _b in built]
        return list(await asyncio.gather(*runs))

    wall0 = time.monotonic()
    caught: list[signal.Signals] = []
    try:
        results = asyncio.run(_until_signal(main(), caught))
    except KeyboardInterrupt:
        caught.append(signal.SIGINT)
        results = None
    if results is None:
        results = []
        for _lander, emulator, _sink, rig, _p, _b in built:
            partial = emulator.status.summary(emulator.clock.wall_elapsed)
            if rig is not None:
                partial.update(rig.summary())
            results.append(partial)
    summaries: dict[str, dict[str, Any]] = {}
    for (lander, emulator, receiver_sink, _rig, profile, band), summary in zip(
            built, results, strict=True):
        entry = {"profile": profile.id, "band": band.name, "scid": int(lander.args.scid),
                 **summary}
        if receiver_sink is not None:
            entry["receiver"] = receiver_sink.totals().as_dict()
        if emulator.status.finished_reason:
            entry["finished_reason"] = emulator.status.finished_reason
        summaries[lander.id] = entry
    total = _totals(summaries, time.monotonic() - wall0)
    if caught:
        total["interrupted"] = caught[0].name
    if args.json:
        print(json.dumps(total))
    else:
        for lander_id, s in summaries.items():
            print(f"{lander_id}: profile={s['profile']} band={s['band']} scid={s['scid']} "
                  f"sim_seconds={s['sim_seconds']} frames={s['frames']} packets={s['packets']} "
                  f"bytes_out={s['bytes_out']}")
        print(" ".join(f"{k}={v}" for k, v in total.items() if k != "landers"))
    if caught:
        return EXIT_SIGTERM if caught[0] == signal.SIGTERM else EXIT_SIGINT
    return 0

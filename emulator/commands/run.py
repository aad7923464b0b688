"""``lunar-hil run``: a lander profile streaming CCSDS telemetry."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from ..binding import (
    band_setup,
    instrument_gates,
    lander_params,
    pick_band,
    telemetry_dictionary,
)
from ..ccsds.cuc import TAI_EPOCH_1958_UNIX
from ..downlink import LAYERS, Emulator, LinkImpairment, Sink, TelemetrySampler, parse_speed
from ..errors import ConfigError, LinkError

#: Keys the live view tracks from the sim (truth) besides the decoded telemetry.
WATCH_KEYS = ("power.battery_soc", "thermal.avionics_c", "gnc.altitude_m", "mode.lander")

#: Default mission epoch for the packet time codes: the sim's t = 0 (UTC).
DEFAULT_EPOCH_UNIX = 1798761600.0  # 2027-01-01T00:00:00Z


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run a lander profile and stream its telemetry",
        description="Run a lander profile through a scenario and stream coded CCSDS telemetry "
        "to the outputs (default: the embedded ground receiver with a live view).",
    )
    p.add_argument("--profile", required=True, help="profile id or YAML file")
    p.add_argument("--band", help="S, X or Ka (default X, else the profile's first band)")
    p.add_argument("--scenario", default="surface-nominal", help="scenario name or YAML file")
    p.add_argument("--speed", default="1", help="1 (real time), N (N times real time) or max")
    p.add_argument("--duration", type=float, metavar="SIM_SECONDS",
                   help="simulated seconds (default: the scenario's duration)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    p.add_argument("--out", action="append", default=[], metavar="URL",
                   help="output URL, repeatable: file:PATH, udp://H:P, tcp://H:P, "
                   "tcp+connect://H:P, serial:DEV?baud=N, pty, mqtt://H:P/PREFIX; "
                   "add ?layer=frames (transfer frames) or ?layer=packets (space packets) "
                   "to feed Yamcs/COSMOS instead of the coded channel stream")
    p.add_argument("--uplink", metavar="URL", help="telecommand input URL")
    p.add_argument("--idle", action="store_true", help="at --speed max, send idle frames too")
    p.add_argument("--ideal-link", action="store_true", help="no channel errors")
    p.add_argument("--ber", type=float, default=0.0,
                   help="bit error rate injected on the channel (default 0)")
    p.add_argument("--fault", action="append", default=[], metavar="KIND@T[:k=v,...]",
                   help="inject a fault, e.g. heater_stuck_off@3600 (repeatable)")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.set_defaults(handler=run)


def split_layer(text: str) -> tuple[str, str]:
    """Take ``layer=channel|frames|packets`` out of an output URL's query."""
    from urllib.parse import parse_qsl, urlencode

    base, sep, query = text.partition("?")
    if not sep:
        return text, "channel"
    pairs = parse_qsl(query, keep_blank_values=True)
    layers = [v for k, v in pairs if k == "layer"]
    rest = [(k, v) for k, v in pairs if k != "layer"]
    layer = layers[-1] if layers else "channel"
    if layer not in LAYERS:
        raise ConfigError(f"{text}: layer={layer!r}; expected one of {', '.join(LAYERS)}")
    return (f"{base}?{urlencode(rest)}" if rest else base), layer


def build_emulator(args: argparse.Namespace) -> tuple[Emulator, Any, Any]:
    """Everything ``run`` needs, validated before any byte is sent."""
    from lunar_hil.profiles.loader import load_profile

    from ..sim.faults import parse_fault_spec
    from ..sim.scenario import load_scenario
    from ..sim.simulation import LanderSimulation

    profile = load_profile(args.profile)
    band = pick_band(profile, args.band)
    speed = parse_speed(args.speed)
    scenario = load_scenario(args.scenario)
    faults = [parse_fault_spec(f) for f in args.fault]
    duration = scenario.duration_s if args.duration is None else args.duration
    if not duration > 0:
        raise ConfigError(f"--duration {args.duration}: must be > 0 simulated seconds")
    if not 0.0 <= args.ber < 0.5:
        raise ConfigError(f"--ber {args.ber}: must be in [0, 0.5)")
    if args.uplink:
        raise ConfigError("--uplink: telecommand uplink is not implemented yet")
    setup = band_setup(band)
    dictionary = telemetry_dictionary(profile, band)
    params = lander_params(profile)
    sim = LanderSimulation(params, scenario, seed=args.seed, faults=faults)
    epoch_cuc = DEFAULT_EPOCH_UNIX - TAI_EPOCH_1958_UNIX
    sampler = TelemetrySampler(dictionary, setup.vcid_of_apid, epoch_cuc_seconds=epoch_cuc,
                               seed=args.seed, enabled_by=instrument_gates(profile))
    sinks: list[Sink] = []
    layers: list[str] = []
    receiver_sink = None
    if args.out:
        from lunar_hil.drivers.base import open_sink

        for text in args.out:
            url, layer = split_layer(text)
            unit = {"channel": setup.coding.channel_bytes_per_frame,
                    "frames": setup.coding.frame_length, "packets": None}[layer]
            if layer == "packets" and url.startswith("udp:"):
                raise ConfigError(f"{text}: layer=packets needs a stream transport "
                                  "(tcp, tcp+connect, file, serial, pty, mqtt), not UDP")
            if url.startswith("iq:") and "baud=" not in url:
                # The IQ modulator needs the channel symbol rate; the band knows it.
                symbols = setup.bit_rate_bps * (2 if setup.coding.convolutional else 1)
                url += ("&" if "?" in url else "?") + f"baud={int(symbols)}"
            sinks.append(open_sink(url, frame_bytes=unit))
            layers.append(layer)
    else:
        from ..downlink import EmbeddedReceiverSink

        receiver_sink = EmbeddedReceiverSink(setup.coding, dictionary, scid=setup.scid,
                                             idle_vcid=setup.idle_vcid)
        sinks.append(receiver_sink)
        layers.append("channel")
    ber = 0.0 if args.ideal_link else args.ber
    emulator = Emulator(
        band=setup, sim=sim, sampler=sampler, duration_s=duration, speed=speed,
        idle=args.idle, sinks=sinks, layers=layers, link=LinkImpairment(ber, args.seed),
        watch_keys=WATCH_KEYS,
    )
    return emulator, receiver_sink, (profile, band, scenario)


def run(args: argparse.Namespace) -> int:
    emulator, receiver_sink, (profile, band, scenario) = build_emulator(args)
    live = None
    if not args.json and sys.stdout.isatty():
        from rich.live import Live

        from ..liveview import LiveView

        view = LiveView(
            title=f"lunar-hil: {profile.name} | {band.name}-band {band.bit_rate_bps:,} bit/s | "
            f"scenario {scenario.name} | speed {args.speed}",
            emulator=emulator, receiver_sink=receiver_sink, duration_s=emulator.duration_s,
        )
        live = Live(view, refresh_per_second=4, screen=False)
    try:
        if live is not None:
            with live:
                summary = asyncio.run(emulator.run())
        else:
            summary = asyncio.run(emulator.run())
    except KeyboardInterrupt:
        summary = emulator.status.summary(emulator.clock.wall_elapsed)
        summary["interrupted"] = True
    except LinkError as exc:
        print(f"lunar-hil: error: {exc}", file=sys.stderr)
        return 1
    if receiver_sink is not None:
        summary["receiver"] = receiver_sink.receiver.counters.as_dict()
    if emulator.status.finished_reason:
        summary["finished_reason"] = emulator.status.finished_reason
    if args.json:
        print(json.dumps(summary))
    else:
        print(" ".join(f"{k}={v}" for k, v in summary.items() if k != "receiver"))
        if receiver_sink is not None:
            c = receiver_sink.receiver.counters
            print(f"ground receiver: cadus={c.cadus} frames_ok={c.frames_ok} packets={c.packets} "
                  f"rs_corrected={c.rs_corrected_symbols} rs_uncorrectable={c.rs_uncorrectable} "
                  f"crc_errors={c.crc_errors}")
    return 0

"""``lunar-hil run``: a lander profile streaming CCSDS telemetry."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import signal
import sys
from typing import Any

from ..binding import (
    BAND_NAMES,
    band_setup,
    instrument_gates,
    lander_params,
    pick_band,
    telemetry_dictionary,
)
from ..downlink import (
    BandSetup,
    Emulator,
    LinkImpairment,
    OutputLayer,
    SinkOutput,
    TelemetrySampler,
    parse_speed,
)
from ..downlink.engine import BandEvent, sink_params
from ..errors import EXIT_SIGINT, EXIT_SIGTERM, ConfigError, EmulatorError

#: Longest engine step (sim seconds) of a run with an uplink at --speed max:
#: one mux period at max speed without idle frames (Emulator.BULK_PERIOD_S).
UPLINK_MAX_STEP_S = 60.0

#: Keys the live view tracks from the sim (truth) besides the decoded telemetry.
WATCH_KEYS = ("power.battery_soc", "thermal.avionics_c", "gnc.altitude_m", "mode.lander")



def register(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run a lander profile and stream its telemetry",
        description="Run a lander profile through a scenario and stream coded CCSDS telemetry "
        "to the outputs (default: the embedded ground receiver with a live view).",
        epilog="examples:\n"
        "  lunar-hil run --profile apex-1.0 --scenario descent --speed 20\n"
        "  lunar-hil run --profile hakuto-r-m1 --scenario descent-lrf-anomaly --speed max "
        "--out file:m1.cadu\n"
        "  lunar-hil run --profile lupex --band X --speed 1 --out udp://127.0.0.1:10015?layer=frames\n"
        "  lunar-hil run --profile apex-1.0 --uplink udp://127.0.0.1:10025 --board gnc=/dev/ttyUSB0",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--profile", action="append", default=[], metavar="ID|FILE",
                   help="profile id or YAML file; repeat it to run a fleet (one lander each, "
                   "own SCID and topics; put {lander} in file:/pty-less --out URLs)")
    p.add_argument("--fleet", metavar="FILE.yaml",
                   help="a fleet file: landers, each with its profile and optional id, scid, "
                   "band, scenario, seed, out, board, uplink, fault (see README: Fleets)")
    p.add_argument("--band", help="S, X or Ka (default X, else the profile's first band)")
    p.add_argument("--scenario", default="surface-nominal", help="scenario name or YAML file")
    p.add_argument("--speed", default="1", help="1 (real time), N (N times real time) or max")
    p.add_argument("--duration", type=float, metavar="SIM_SECONDS",
                   help="simulated seconds (default: the scenario's duration)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    p.add_argument("--epoch", metavar="UTC",
                   help="scenario date, ISO 8601 UTC like 2023-04-25T16:31:15Z (default: the "
                   "scenario's epoch); the Sun, Earth and relays follow it, the CUC is it in TAI")
    p.add_argument("--out", action="append", default=[], metavar="URL",
                   help="output URL, repeatable: file:PATH, udp://H:P, tcp://H:P, "
                   "tcp+connect://H:P, serial:DEV?baud=N, pty, mqtt://H:P/PREFIX, "
                   "iq:PATH?samp_rate=N; add ?layer=frames (transfer frames) or "
                   "?layer=packets (space packets) to feed Yamcs/COSMOS, ?layer=cadu for "
                   "the CADUs before convolutional coding, instead of the coded channel stream; "
                   "?band=S|X|Ka for an output that takes that band only")
    p.add_argument("--uplink", metavar="URL",
                   help="telecommand input URL (CLTUs): udp://H:P, tcp://H:P, file:PATH, pty, "
                   "serial:DEV, mqtt://H:P/PREFIX (PREFIX/LANDER/tc)")
    p.add_argument("--board", action="append", default=[], metavar="KIND=URL",
                   help="a board in the loop, repeatable: gnc=, payload= or eps= with a "
                   "serial device, pty path or mqtt:// URL")
    p.add_argument("--idle", action="store_true", help="at --speed max, send idle frames too")
    p.add_argument("--ideal-link", action="store_true", help="no channel errors")
    p.add_argument("--ber", type=float, default=0.0,
                   help="bit error rate injected on the channel (default 0)")
    p.add_argument("--fault", action="append", default=[], metavar="KIND@T[:k=v,...]",
                   help="inject a fault, e.g. heater_stuck_off@3600 (repeatable)")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.add_argument("--connect-timeout", type=float, metavar="SECONDS",
                   help="how long tcp+connect:// and mqtt:// outputs retry their first "
                   "connection (default 10 s)")
    p.set_defaults(handler=run)


def open_outputs(
    urls: list[str], setup: BandSetup, *, lander: str = "lander", speed: float | None = None,
    connect_timeout: float | None = None, bands: dict[str, BandSetup] | None = None,
) -> list[SinkOutput]:
    """The sinks of ``--out URL...``, each with its layer (``?layer=``), not yet opened.

    Each URL is parsed once; the driver gets the unit of its layer (whole
    CADUs, frames) and the stream's symbol rate as arguments.
    """
    from lunar_hil.drivers import open_sink
    from lunar_hil.drivers.url import parse_url

    outputs: list[SinkOutput] = []
    for text in urls:
        parsed = parse_url(text)
        layer = OutputLayer.parse(parsed.params.get("layer", OutputLayer.CHANNEL), parsed.display)
        only = None
        if "band" in parsed.params:
            # This output takes one band only, in that band's units.
            known = bands or {setup.name: setup}
            match = [n for n in known if n.lower() == parsed.params["band"].lower()]
            if not match:
                raise ConfigError(f"{parsed.display}: band={parsed.params['band'][:20]!r}: "
                                  f"no such band (has: {', '.join(known)})")
            only = match[0]
            p = sink_params(known[only], layer, speed, parsed.scheme)
        else:
            p = sink_params(setup, layer, speed, parsed.scheme)
        sink = open_sink(parsed, frame_bytes=p["frame_bytes"], symbol_rate=p["symbol_rate"],
                         layer=p["layer"].value, lander=lander, frame_type=p["frame_type"],
                         pace_bytes_per_s=p["pace_bytes_per_s"], connect_timeout=connect_timeout,
                         convolutional=p["convolutional"])
        outputs.append(SinkOutput(sink, p["layer"], only))
    return outputs


def build_emulator(args: argparse.Namespace) -> tuple[Emulator, Any, Any, Any]:
    """Everything ``run`` needs, validated before any byte is sent."""
    from lunar_hil.profiles.loader import load_profile

    from ..sim.faults import parse_fault_spec
    from ..sim.scenario import load_scenario
    from ..sim.simulation import LanderSimulation

    profile = load_profile(args.profile)
    band = pick_band(profile, args.band)
    speed = parse_speed(args.speed)
    scenario = load_scenario(args.scenario)
    if getattr(args, "epoch", None):
        from ..timebase import parse_utc

        try:
            scenario = scenario.with_epoch(parse_utc(args.epoch))
        except ConfigError as exc:
            raise ConfigError(f"--epoch: {exc}") from None
    faults = [parse_fault_spec(f) for f in args.fault]
    duration = scenario.duration_s if args.duration is None else args.duration
    if not 0 < duration < math.inf:
        raise ConfigError(f"--duration {args.duration}: must be a finite number > 0 "
                          "of simulated seconds")
    if args.seed < 0:
        raise ConfigError(f"--seed {args.seed}: must be >= 0")
    if not 0.0 <= args.ber < 0.5:
        raise ConfigError(f"--ber {args.ber}: must be in [0, 0.5)")
    setup = band_setup(band)
    # A fleet names each lander (MQTT topics, status) and may give it its own SCID.
    lander = getattr(args, "lander_id", None) or profile.id
    if getattr(args, "scid", None) is not None:
        setup = dataclasses.replace(setup, scid=int(args.scid))
    dictionary = telemetry_dictionary(profile, band)
    params = lander_params(profile)
    sim = LanderSimulation(params, scenario, seed=args.seed, faults=faults)
    physics = sim  # the simulation itself, also when a rig wraps it below
    start_utc = sim.start_utc
    # Packet time codes: CUC level 1, TAI seconds since 1958 (with the leap
    # seconds in force at the scenario's start, sim time 0).
    from ..timebase import utc_to_tai_seconds

    epoch_cuc = utc_to_tai_seconds(sim.start_utc)
    sampler = TelemetrySampler(dictionary, setup.vcid_of_apid, epoch_cuc_seconds=epoch_cuc,
                               seed=args.seed, enabled_by=instrument_gates(profile))
    from ..boards.rig import build_rig

    rig = build_rig(boards=args.board, uplink=args.uplink, profile=profile, setup=setup,
                    speed=speed, epoch_cuc_seconds=epoch_cuc, lander=lander)
    if rig is not None:
        sim, sampler = rig.bind(sim, sampler)
    bands, band_events = band_plan(profile, scenario, faults, setup, explicit=args.band is not None)
    receiver_sink = None
    if args.out:
        outputs = open_outputs(args.out, setup, lander=lander, speed=speed,
                               connect_timeout=getattr(args, "connect_timeout", None),
                               bands=bands)
    else:
        from ..downlink import EmbeddedReceiverSink

        receiver_sink = EmbeddedReceiverSink(setup.coding, dictionary, scid=setup.scid,
                                             idle_vcid=setup.idle_vcid)
        outputs = [SinkOutput(receiver_sink, OutputLayer.CHANNEL)]
    ber = 0.0 if args.ideal_link else args.ber
    engine_args: dict[str, Any] = dict(
        band=setup, sim=sim, sampler=sampler, duration_s=duration, speed=speed,
        idle=args.idle, outputs=outputs, link=LinkImpairment(ber, args.seed),
        watch_keys=WATCH_KEYS, bands=bands, band_events=band_events,
        # With an uplink at max speed a command takes effect at the end of the
        # step it arrived in: short steps keep that within UPLINK_MAX_STEP_S.
        max_block_s=UPLINK_MAX_STEP_S if args.uplink and speed is None else None,
    )
    # The link model (emulator/links) needs the lander at its site: off in cruise.
    linked = None
    if args.ideal_link or scenario.phase == "cruise":
        emulator = Emulator(**engine_args)
    else:
        from ..downlink.linked import linked_emulator

        emulator = linked = linked_emulator(profile, band.name, start_utc, seed=args.seed,
                                            ber_override=args.ber or None, **engine_args)
        # The housekeeping's COM_LINK_UP, elevation and relay flag follow the
        # same model, on the band in use.
        schedule, engine = linked.schedule, linked
        physics.set_link_oracle(lambda t: schedule.comms_at(engine.band.name, t))
    # A band switch moves the sampler's APIDs (and the rig's) to the new band's VCs.
    emulator.band_listeners.append(
        lambda new: sampler.set_vcid_map(new.vcid_of_apid, new.channels[0].vcid))
    if rig is not None:
        emulator.band_listeners.append(rig.band_changed)
        if rig.router is not None:
            def set_band(call: Any, rig: Any = rig) -> None:
                value = call.args.get("band", "")
                name = (BAND_NAMES[int(value)] if isinstance(value, int | float)
                        and 0 <= int(value) < len(BAND_NAMES) else str(value))
                emulator.request_band(rig.now, name, "telecommand")
            rig.router.engine_actions["SET_BAND"] = set_band
        rig.engine(emulator)
        if linked is not None:
            if rig.inbox is not None:  # telecommands take the light time, lost in an outage
                rig.inbox.light_time_s = linked.uplink_delay_s
            if rig.router is not None:
                rig.router.engine_actions["RECORDER_DUMP"] = (
                    lambda call: linked.recorder_dump(float(call.args.get("from_met_s", 0.0))))
    return emulator, receiver_sink, rig, (profile, band, scenario)


def band_plan(profile: Any, scenario: Any, faults: list[Any], setup: BandSetup, *,
              explicit: bool) -> tuple[dict[str, BandSetup], list[BandEvent]]:
    """The profile's bands (each with the run's SCID) and the band events of the
    scenario's ``bands`` steps and ``transmitter_fault`` faults. A step at t = 0
    picks the start band unless ``--band`` did. A band the profile lacks is a
    one-line error before anything is sent."""
    known = {b.name: b for b in profile.bands}
    bands = {name: dataclasses.replace(band_setup(b), scid=setup.scid)
             for name, b in known.items()}
    bands[setup.name] = setup
    where = scenario.source or scenario.name
    events: list[BandEvent] = []
    for i, (t_s, name) in enumerate(scenario.band_steps):
        if name not in known:
            raise ConfigError(f"{where}: bands[{i}]: profile {profile.id} has no {name} band "
                              f"(has: {', '.join(known)})")
        if t_s == 0 and explicit:
            continue  # --band picks the start band
        events.append(BandEvent(t_s, name, "scenario"))
    for f in (*scenario.faults, *faults):
        if f.kind == "transmitter_fault":
            if f.text("band") not in known:
                raise ConfigError(f"fault {f.kind}: profile {profile.id} has no "
                                  f"{f.text('band')} band (has: {', '.join(known)})")
            events.append(BandEvent(f.at_s, f.text("band"), "fault",
                                    fails=f.duration_s if f.duration_s else math.inf))
    return bands, events


def run(args: argparse.Namespace) -> int:
    if args.fleet or len(args.profile) > 1:
        from .fleet import run_fleet

        return run_fleet(args)
    if not args.profile:
        raise ConfigError("run: --profile ID|FILE is required (or --fleet FILE.yaml)")
    args.profile = args.profile[0]
    emulator, receiver_sink, rig, (profile, band, scenario) = build_emulator(args)

    def main() -> Any:
        coro = rig.run(emulator) if rig is not None else emulator.run()
        return run_until_signal(coro, caught)

    caught: list[signal.Signals] = []

    live = None
    if not args.json and sys.stdout.isatty():
        from rich.live import Live

        from ..liveview import LiveView

        view = LiveView(
            title=f"lunar-hil: {profile.name} | starts on {band.name}-band | "
            f"scenario {scenario.name} | speed {args.speed}",
            emulator=emulator, receiver_sink=receiver_sink, duration_s=emulator.duration_s,
        )
        live = Live(view, refresh_per_second=4, screen=False)
    try:
        if live is not None:
            with live:
                summary = asyncio.run(main())
        else:
            summary = asyncio.run(main())
    except KeyboardInterrupt:
        caught.append(signal.SIGINT)
        summary = None
    if summary is None:  # a signal: the sinks were closed (flushed) on the way out
        summary = emulator.status.summary(emulator.clock.wall_elapsed)
        summary["interrupted"] = caught[0].name if caught else True
    summary["sinks"] = sink_counters(emulator)
    if receiver_sink is not None:
        summary["receiver"] = receiver_sink.totals().as_dict()
    if emulator.status.finished_reason:
        summary["finished_reason"] = emulator.status.finished_reason
    if args.json:
        print(json.dumps(summary))
    else:
        nested = {"receiver", "sinks", "link", "boards", "uplink", "band_events"}
        print(" ".join(f"{k}={v}" for k, v in summary.items() if k not in nested))
        for key in ("link", "boards", "uplink"):
            part = summary.get(key)
            if isinstance(part, dict):
                print(f"{key}: " + " ".join(f"{k}={v}" for k, v in part.items()))
        for ev in summary.get("band_events", []):
            print("band: " + " ".join(f"{k}={v}" for k, v in ev.items()))
        if receiver_sink is not None:
            c = receiver_sink.totals()
            print(f"ground receiver: cadus={c.cadus} frames_ok={c.frames_ok} packets={c.packets} "
                  f"rs_corrected={c.rs_corrected_symbols} rs_uncorrectable={c.rs_uncorrectable} "
                  f"crc_errors={c.crc_errors}")
        for sink in summary["sinks"]:
            print(f"{sink['url']}: " + " ".join(f"{k}={v}" for k, v in sink.items()
                                                 if k not in {"url", "layer"}))
    if caught:
        return EXIT_SIGTERM if caught[0] == signal.SIGTERM else EXIT_SIGINT
    return 0


async def run_until_signal(coro: Any, caught: list[signal.Signals]) -> Any:
    """Run ``coro``; on SIGINT or SIGTERM cancel it, which closes the sinks the
    engine holds in its exit stack: each flushes for up to its flush timeout
    (10 s) and counts what it could not deliver.  Returns None after a signal."""
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
    except EmulatorError as exc:
        if not caught:
            raise
        # A sink that could not flush in time after the signal: it counted the
        # bytes it dropped; say why on stderr and still exit with the signal.
        print(f"lunar-hil: error: {exc}", file=sys.stderr)
        return None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def sink_counters(emulator: Any) -> list[dict[str, Any]]:
    """Each output's counters for the summary: what its transport really took
    (``bytes_out``), what it could not deliver (``dropped_bytes``, ``lost_bytes``),
    reconnects and stalls."""
    out: list[dict[str, Any]] = []
    for output in getattr(emulator, "outputs", []):
        counters = getattr(output.sink, "counters", None)
        if counters is None:
            continue
        out.append({"url": getattr(output.sink, "url", "?"), "layer": output.layer.value,
                    **counters})
    return out

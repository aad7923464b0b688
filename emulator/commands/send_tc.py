"""``lunar-hil send-tc``: a small ground tool that closes the loop without Yamcs.

It builds the command from the profile's command list, wraps it as a TC space
packet in a TC transfer frame in a CLTU, and sends it to the emulator's
``--uplink``.  With the sequence-controlled service (Type-AD, the default) it
runs FOP-1 against the CLCW it reads back from the downlink (``--tm URL``): it
learns V(R) from the first CLCW, unlocks a FARM in Lockout, retransmits on the
Retransmit flag or its timer, and finishes when the CLCW's N(R) has moved past
the command.  While the CLCW's Wait flag is set (the lander's command buffer is
full) it holds: the command is not sent, nor sent again, until Wait clears; then
what the FARM discarded goes again (FOP-1 'Retransmit with Wait', 232.1 S3).
``--bypass`` sends a Type-BD frame once and reads nothing back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any

from ..ccsds.clcw import Clcw
from ..ccsds.cltu import encode_cltu
from ..ccsds.tc import TcFrame
from ..errors import CommandError, ConfigError, LinkError, RemoteProtocolError
from ..uplink import CommandTable, Fop1, default_command_table

EXAMPLE = (
    "example: lunar-hil run --profile apex-1.0 --out udp://127.0.0.1:17001 "
    "--uplink udp://127.0.0.1:17002 &  lunar-hil send-tc --profile apex-1.0 "
    "--to udp://127.0.0.1:17002 --tm udp://127.0.0.1:17001 HEATER_ON"
)


#: FOP-1 T1: two one-way light times (<= 1.4 s each, station to lander) plus margin.
DEFAULT_T1_S = 4.0

def register(sub: Any) -> None:
    p = sub.add_parser(
        "send-tc", help="send one telecommand (CLTU) and confirm it by the CLCW",
        description="Build a telecommand from the profile's command list, send it as a CLTU "
        "and, for Type-AD, run FOP-1 against the CLCW read back from the downlink.",
        epilog=EXAMPLE,
    )
    p.add_argument("--profile", required=True, help="profile id or YAML file")
    p.add_argument("--to", required=True, metavar="URL",
                   help="where the CLTUs go: udp://H:P, tcp+connect://H:P, serial:DEV, file:PATH, "
                   "mqtt://H:P/PREFIX (published on PREFIX/LANDER/tc)")
    p.add_argument("--tm", metavar="URL",
                   help="downlink to read the CLCW from (the coded channel stream, as run --out "
                   "sends it): udp://H:P (bind), tcp+connect://H:P, mqtt://H:P/PREFIX "
                   "(PREFIX/LANDER/tm/cadu), file:PATH")
    p.add_argument("--band", help="band whose coding the --tm stream uses (default as run)")
    p.add_argument("--vcid", type=int, default=0, help="TC virtual channel (default 0)")
    p.add_argument("--lander", metavar="ID",
                   help="the lander's id in a fleet (MQTT topics; default the profile id)")
    p.add_argument("--scid", type=int, metavar="N",
                   help="the lander's spacecraft id in a fleet (default the band's)")
    p.add_argument("--bypass", action="store_true",
                   help="Type-BD (expedited): no sequence control, no CLCW needed")
    p.add_argument("--timeout", type=float, default=20.0, metavar="S",
                   help="give up after S wall seconds (default 20)")
    p.add_argument("--t1", type=float, default=DEFAULT_T1_S, metavar="S",
                   help=f"FOP-1 retransmission timer T1 (default {DEFAULT_T1_S:g} s: longer than "
                   "the Earth-Moon round trip of up to ~2.8 s, so a frame is not sent again "
                   "before its acknowledgement can be back)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.add_argument("command", help="command name from the profile, e.g. HEATER_ON")
    p.add_argument("args", nargs="*", metavar="NAME=VALUE", help="command arguments")
    p.set_defaults(handler=run)


def command_table(profile: Any) -> CommandTable:
    table = CommandTable.from_profile(profile)
    return table if table.by_name else default_command_table()


def parse_args_list(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"argument {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


class _CltuOut:
    """Where CLTUs go: a driver sink, or MQTT PREFIX/LANDER/tc."""

    def __init__(self, url: str, lander: str) -> None:
        self.url = url
        self.lander = lander
        self._sink: Any = None
        self._mqtt: Any = None

    async def __aenter__(self) -> _CltuOut:
        from lunar_hil.drivers.url import parse_url

        parsed = parse_url(self.url)
        if parsed.scheme == "mqtt":
            import aiomqtt

            self._topic = f"{parsed.path}/{self.lander}/tc"
            self._mqtt = aiomqtt.Client(parsed.host, parsed.port, username=parsed.username,
                                        password=parsed.password, timeout=5)
            try:
                await self._mqtt.__aenter__()
            except aiomqtt.MqttError as exc:
                raise LinkError(f"{parsed.display}: cannot connect: {exc}") from exc
        else:
            from lunar_hil.drivers import open_sink

            self._sink = open_sink(parsed)
            await self._sink.open()
        return self

    async def send(self, cltu: bytes) -> None:
        if self._mqtt is not None:
            await self._mqtt.publish(self._topic, cltu, qos=1)
        else:
            await self._sink.write(cltu)
            # Push it out now: a queued sink would otherwise hold it until close.
            for _ in range(100):
                if not self._sink.counters.get("queued_bytes", 0):
                    break
                await asyncio.sleep(0.005)

    async def __aexit__(self, *exc: object) -> None:
        if self._mqtt is not None:
            with contextlib.suppress(Exception):
                await self._mqtt.__aexit__(None, None, None)
        if self._sink is not None:
            await self._sink.close()


class _ClcwReader:
    """Reads the downlink and yields each CLCW the receiver decodes."""

    def __init__(self, url: str, profile: Any, band_name: str | None,
                 lander: str | None = None, scid: int | None = None) -> None:
        from ..binding import band_setup, pick_band
        from ..ccsds.receiver import Receiver

        setup = band_setup(pick_band(profile, band_name))
        self.setup = setup
        self.receiver = Receiver(setup.coding, scid=setup.scid if scid is None else scid,
                                 idle_vcid=setup.idle_vcid, keep_frames=False)
        self.url = url
        self.lander = lander or str(profile.id)
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._source: Any = None

    async def __aenter__(self) -> _ClcwReader:
        from lunar_hil.drivers.url import parse_url

        parsed = parse_url(self.url)
        if parsed.scheme == "mqtt":
            from lunar_hil.drivers.mqtt import MqttSource

            self._source = MqttSource(parsed, topic=f"{parsed.path}/{self.lander}/tm/cadu")
        else:
            from lunar_hil.drivers import open_source

            self._source = open_source(parsed)
        await self._source.open()
        self._task = asyncio.ensure_future(self._pump())
        return self

    async def _pump(self) -> None:
        """Decode what arrived in one call per wake-up: the receiver's cost is
        mostly per call on a convolutional band (one CADU per MQTT message
        would otherwise fall behind the downlink, and the CLCW with it)."""
        arrived: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def read() -> None:
            try:
                async for chunk in self._source:
                    arrived.put_nowait(chunk)
            finally:
                arrived.put_nowait(None)

        reader = asyncio.ensure_future(read())
        try:
            while True:
                chunks = [await arrived.get()]
                while not arrived.empty():
                    chunks.append(arrived.get_nowait())
                ended = None in chunks
                batch = self.receiver.feed(b"".join(c for c in chunks if c is not None))
                if batch.clcw is not None:
                    self.queue.put_nowait(batch.clcw)
                if ended:
                    return
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def next(self, timeout: float) -> Clcw | None:
        try:
            word = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        # Only the newest report matters: skip the ones queued behind it.
        while not self.queue.empty():
            word = self.queue.get_nowait()
        try:
            return Clcw.from_int(word)
        except RemoteProtocolError:
            return None

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._source is not None:
            with contextlib.suppress(Exception):
                await self._source.close()


async def send(args: argparse.Namespace, profile: Any, packet: bytes) -> dict[str, Any]:
    from ..binding import band_setup, pick_band

    table = command_table(profile)
    scid = band_setup(pick_band(profile, args.band)).scid if args.scid is None else args.scid
    lander = args.lander or str(profile.id)
    result: dict[str, Any] = {"command": args.command,
                              "opcode": table.by_name[args.command].opcode,
                              "frame_type": "BD" if args.bypass else "AD"}
    async with _CltuOut(args.to, lander) as out:
        if args.bypass:
            await out.send(encode_cltu(TcFrame.bd(scid, args.vcid, 0, packet).pack()))
            result.update(cltus_sent=1, confirmed=False)
            return result
        if not args.tm:
            raise ConfigError("send-tc: Type-AD needs --tm URL to read the CLCW back "
                              "(or --bypass for Type-BD)")
        fop = Fop1(scid, args.vcid, t1_s=args.t1)
        deadline = time.monotonic() + args.timeout
        sent = 0
        async with _ClcwReader(args.tm, profile, args.band, lander, scid) as reader:
            first = await reader.next(max(0.0, deadline - time.monotonic()))
            if first is None:
                raise LinkError(f"{args.tm}: no CLCW received within {args.timeout:g} s")
            result["nr_before"] = first.report_value
            result["lockout_before"] = first.lockout
            result["wait_before"] = first.wait

            async def transmit(frames: list[TcFrame]) -> None:
                nonlocal sent
                for f in frames:
                    if f.header.frame_type == "AD":
                        result.setdefault("ns", f.header.seq)
                    await out.send(encode_cltu(f.pack()))
                    sent += 1

            await transmit(fop.initialize(first))
            # Sent now, or held in FOP-1's queue while the FARM reports Wait.
            await transmit(fop.request(packet, time.monotonic()))
            last = first
            while not fop.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    held = " (held: the lander reports Wait)" if fop.holding else ""
                    raise LinkError(f"send-tc: {args.command} not acknowledged within "
                                    f"{args.timeout:g} s (N(R) stays {last.report_value}){held}")
                clcw = await reader.next(min(left, args.t1 / 4))
                now = time.monotonic()
                again = [] if clcw is None else fop.on_clcw(clcw, now)
                # T1 runs whether or not CLCWs come (a live downlink brings one per
                # frame): a frame lost on the way is sent again when it expires.
                again += fop.on_timer(now)
                last = clcw or last
                await transmit(again)
            result.update(nr_after=last.report_value, cltus_sent=sent,
                          retransmissions=fop.counters["retransmissions"],
                          unlocks=fop.counters["unlocks"], waits=fop.counters["waits"],
                          confirmed=True)
    return result


def run(args: argparse.Namespace) -> int:
    from lunar_hil.profiles.loader import load_profile

    profile = load_profile(args.profile)
    if not 0 <= args.vcid < 64:
        raise ConfigError(f"--vcid {args.vcid}: must be 0..63")
    if args.scid is not None and not 0 <= args.scid < 1024:
        raise ConfigError(f"--scid {args.scid}: must be 0..1023")
    try:
        packet = command_table(profile).encode(args.command, parse_args_list(args.args))
    except CommandError as exc:
        raise ConfigError(str(exc)) from exc
    result = asyncio.run(send(args, profile, packet))
    if args.json:
        print(json.dumps(result))
    else:
        print(" ".join(f"{k}={v}" for k, v in result.items()))
    return 0

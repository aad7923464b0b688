"""``lunar-hil decode``: the ground receiver over a file or a network source."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections import deque
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from ..binding import channel_coding, pick_band, telemetry_dictionary
from ..ccsds import ReceivedBatch, Receiver, max_scid
from ..errors import EXIT_SIGINT, EXIT_SIGTERM, ConfigError, LinkError, UnavailableError, UrlError
from ..telemetry import TelemetryDictionary

#: Bytes a network decode holds between the socket and the receiver; past this
#: the reader stops taking (TCP backpressure, UDP counted drops).
PENDING_LIMIT = 4 * 1024 * 1024
#: Bytes handed to the receiver in one call (one slice of work between signals).
FEED_BYTES = 256 * 1024
#: Where decode reads from (the MQTT source carries telecommands, IQ is not demodulated).
DECODE_SCHEMES = frozenset({"file", "udp", "tcp", "tcp+connect", "serial", "pty"})


def register(sub: Any) -> None:
    p = sub.add_parser(
        "decode",
        help="decode a coded channel stream (file, UDP, TCP, serial, pty) into frames and packets",
        description="Run the ground receiver over SOURCE: frame sync, derandomizer, RS, "
        "CRC, VC demultiplexing and packet reassembly. SOURCE is a file path, file:PATH, "
        "udp://HOST:PORT (bind), tcp://HOST:PORT (listen), tcp+connect://HOST:PORT, "
        "serial:DEVICE?baud=N (a ground station on a serial line) or pty (a new "
        "pseudo-terminal: its path is printed as 'pty: /dev/pts/N').",
        epilog="examples:\n"
        "  lunar-hil run --profile lupex --speed max --duration 600 --out file:lupex.cadu\n"
        "  lunar-hil decode --profile lupex lupex.cadu --json\n"
        "  lunar-hil decode --profile lupex lupex.cadu --packets-out lupex.packets "
        "--params-out lupex.jsonl\n"
        "  lunar-hil decode --profile apex-1.0 udp://127.0.0.1:5600 --idle-timeout 5 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--profile", required=True, help="profile id or YAML file")
    p.add_argument("--band", help="band name (S, X or Ka); default X or the first")
    p.add_argument("--scid", type=int, metavar="N",
                   help="spacecraft id whose frames to decode (default the band's); a fleet "
                   "lander's own SCID, as run --json reports it under landers")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("--json", action="store_true", help="print the counters as JSON")
    p.add_argument("--packets-out", metavar="FILE", help="write decoded space packets back to back")
    p.add_argument("--params-out", metavar="FILE.jsonl", help="one JSON object per packet")
    p.add_argument(
        "--idle-timeout", type=float, default=0.0, metavar="S",
        help="network sources: once data has arrived, stop after S seconds without "
        "more (0 = run until the peer closes or Ctrl-C)",
    )
    p.add_argument("--chunk", type=int, default=1 << 20, help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


class _Outputs:
    """Where decoded packets and parameters go."""

    def __init__(self, packets_out: str | None, params_out: str | None,
                 dictionary: TelemetryDictionary) -> None:
        self.dictionary = dictionary
        self.packets_f: BinaryIO | None = None
        self.params_f: TextIO | None = None
        try:
            if packets_out:
                self.packets_f = open(packets_out, "wb")  # noqa: SIM115
            if params_out:
                self.params_f = open(params_out, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            self.close()
            raise UnavailableError(f"{exc.filename}: cannot write: {exc.strerror}") from None

    def take(self, batch: ReceivedBatch) -> None:
        if not batch.packets:
            return
        f: Any = None
        try:
            if self.packets_f is not None:
                f = self.packets_f
                f.write(b"".join(batch.packets))
            if self.params_f is not None:
                f = self.params_f
                for rec in self.dictionary.decode_packets(batch.packets):
                    f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        except OSError as exc:
            raise LinkError(f"{f.name}: write failed: {exc.strerror}") from None

    def close(self) -> None:
        problem: LinkError | None = None
        for f in (self.packets_f, self.params_f):
            if f is not None:
                try:
                    f.close()
                except OSError as exc:
                    problem = problem or LinkError(f"{f.name}: write failed: {exc.strerror}")
        self.packets_f = self.params_f = None
        if problem is not None:
            raise problem


def _read_file(path: Path, chunk: int) -> Any:
    try:
        f = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise UnavailableError(f"{path}: cannot read: {exc.strerror}") from None
    with f:
        while True:
            data = f.read(chunk)
            if not data:
                return
            yield data


async def _read_network(source: Any, idle_timeout: float) -> Any:
    """Chunks of an opened network source, until the peer closes or ``idle_timeout``."""
    it = source.__aiter__()
    started = False
    while True:
        try:
            # The idle timeout runs once data has flowed: a decoder is
            # usually started before the emulator and may wait for it.
            if idle_timeout > 0 and started:
                data = await asyncio.wait_for(it.__anext__(), idle_timeout)
            else:
                data = await it.__anext__()
        except (StopAsyncIteration, TimeoutError):
            return
        started = True
        yield data


async def decode_network(
    url: str, receiver: Receiver, outputs: _Outputs, idle_timeout: float,
    caught: list[signal.Signals],
) -> dict[str, int]:
    """Decode a source that is not a file (socket, serial line, pty, MQTT); returns its counters.

    The socket is read by its own task while the receiver works in a thread on
    what arrived meanwhile, but never more than :data:`PENDING_LIMIT` bytes wait:
    past that the reader stops taking from the source, so a TCP peer is held
    back by TCP's own flow control and a UDP source drops datagrams and counts
    them (``dropped_datagrams``).  The receiver gets at most :data:`FEED_BYTES`
    per call, so SIGINT/SIGTERM stop it within one such slice.
    """
    from lunar_hil.drivers import open_source

    source = open_source(url)
    try:
        await source.open()
    except LinkError as exc:
        raise UnavailableError(str(exc)) from exc
    # Tell the user (and scripts) that the socket is ready: send from now on.
    print(f"decode: listening on {url}", file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None

    def on_signal(sig: signal.Signals) -> None:
        if not caught:
            caught.append(sig)
            main.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    pending: deque[bytes] = deque()
    size = 0
    arrived = asyncio.Event()
    room = asyncio.Event()
    room.set()
    done = False

    async def read() -> None:
        nonlocal done, size
        try:
            async for data in _read_network(source, idle_timeout):
                while size >= PENDING_LIMIT:
                    room.clear()
                    await room.wait()
                pending.append(data)
                size += len(data)
                arrived.set()
        finally:
            done = True
            arrived.set()

    reader = loop.create_task(read())
    feeding: asyncio.Future[ReceivedBatch] | None = None
    try:
        while True:
            await arrived.wait()
            arrived.clear()
            while pending:
                parts: list[bytes] = []
                taken = 0
                while pending and taken < FEED_BYTES:
                    parts.append(pending.popleft())
                    taken += len(parts[-1])
                size -= taken
                room.set()
                feeding = asyncio.ensure_future(asyncio.to_thread(receiver.feed, b"".join(parts)))
                outputs.take(await asyncio.shield(feeding))
                feeding = None
            if done:
                break
        await reader
    except asyncio.CancelledError:
        if not caught:
            raise
        if feeding is not None:  # let the receiver finish the slice it works on
            outputs.take(await feeding)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await source.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    counters = dict(getattr(source, "counters", {}))
    counters["pending_bytes_dropped"] = size  # taken from the source, not decoded
    return counters


def decode_stream(receiver: Receiver, chunks: Any, outputs: _Outputs) -> None:
    for data in chunks:
        outputs.take(receiver.feed(data))
    outputs.take(receiver.flush())


def run(args: argparse.Namespace) -> int:
    from lunar_hil.profiles.loader import load_profile

    if args.chunk <= 0:
        raise ConfigError(f"--chunk {args.chunk}: must be a positive number of bytes")
    if not 0 <= args.idle_timeout < float("inf"):
        raise ConfigError(f"--idle-timeout {args.idle_timeout}: must be a finite number >= 0")
    profile = load_profile(args.profile)
    band = pick_band(profile, args.band)
    coding = channel_coding(band)
    dictionary = telemetry_dictionary(profile, band)
    scid = band.scid if args.scid is None else args.scid
    if not 0 <= scid <= max_scid(coding.frame_type):
        raise ConfigError(f"--scid {scid}: a {coding.frame_type} frame's SCID is "
                          f"0..{max_scid(coding.frame_type)}")
    receiver = Receiver(coding, scid=scid, idle_vcid=band.idle_vcid, keep_frames=False)
    outputs = _Outputs(args.packets_out, args.params_out, dictionary)
    src = args.source
    caught: list[signal.Signals] = []
    source_counts: dict[str, int] = {}
    try:
        from lunar_hil.drivers.url import parse_url

        try:
            parsed = parse_url(src)
        except UrlError:
            if not Path(src).is_file():
                raise
            parsed = parse_url("file:" + src)  # a file whose name looks like a URL
        if parsed.scheme not in DECODE_SCHEMES:
            raise ConfigError(f"{src}: decode reads {', '.join(sorted(DECODE_SCHEMES))} "
                              f"sources, not {parsed.scheme}")
        if parsed.scheme != "file":
            try:
                source_counts = asyncio.run(
                    decode_network(src, receiver, outputs, args.idle_timeout, caught))
            except KeyboardInterrupt:  # before the loop took the signal over
                caught.append(signal.SIGINT)
            outputs.take(receiver.flush())
        else:
            path = Path(parsed.path)
            try:
                decode_stream(receiver, _read_file(path, args.chunk), outputs)
            except KeyboardInterrupt:
                caught.append(signal.SIGINT)
                outputs.take(receiver.flush())
    finally:
        outputs.close()
    counts = receiver.counters.as_dict()
    for key in ("bytes_in", "datagrams", "dropped_datagrams", "kernel_dropped_datagrams",
                "dropped_bytes",
                "pending_bytes_dropped"):
        if key in source_counts:
            counts[key] = source_counts[key]
    if caught:
        counts["interrupted"] = caught[0].name
    if args.json:
        print(json.dumps(counts))
    else:
        _print_table(counts, profile.id, band.name)
    if caught:
        return EXIT_SIGTERM if caught[0] == signal.SIGTERM else EXIT_SIGINT
    return 0


def _print_table(counts: dict[str, Any], profile_id: str, band: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"decode: {profile_id} {band}-band", show_header=False)
    for key, value in counts.items():
        if key == "packets_by_apid":
            value = ", ".join(f"{a}:{n}" for a, n in value.items()) or "-"
        table.add_row(key, str(value))
    Console(file=sys.stdout).print(table)

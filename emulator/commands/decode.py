"""``lunar-hil decode``: the ground receiver over a file or a network source."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from ..binding import channel_coding, pick_band, telemetry_dictionary
from ..ccsds import ReceivedBatch, Receiver
from ..errors import LinkError, UnavailableError
from ..telemetry import TelemetryDictionary


def register(sub: Any) -> None:
    p = sub.add_parser(
        "decode",
        help="decode a coded channel stream (file, UDP, TCP) into frames and packets",
        description="Run the ground receiver over SOURCE: frame sync, derandomizer, RS, "
        "CRC, VC demultiplexing and packet reassembly. SOURCE is a file path, file:PATH, "
        "udp://HOST:PORT (bind), tcp://HOST:PORT (listen) or tcp+connect://HOST:PORT.",
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
        if self.packets_f is not None:
            self.packets_f.write(b"".join(batch.packets))
        if self.params_f is not None:
            for rec in self.dictionary.decode_packets(batch.packets):
                self.params_f.write(json.dumps(rec, separators=(",", ":")) + "\n")

    def close(self) -> None:
        for f in (self.packets_f, self.params_f):
            if f is not None:
                f.close()


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


async def _read_network(url: str, idle_timeout: float) -> Any:
    from lunar_hil.drivers.base import open_source

    source = open_source(url)
    try:
        await source.open()
    except LinkError as exc:
        raise UnavailableError(str(exc)) from exc
    # Tell the user (and scripts) that the socket is ready: send from now on.
    print(f"decode: listening on {url}", file=sys.stderr, flush=True)
    try:
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
    finally:
        await source.close()


def decode_stream(receiver: Receiver, chunks: Any, outputs: _Outputs) -> None:
    for data in chunks:
        outputs.take(receiver.feed(data))
    outputs.take(receiver.flush())


def run(args: argparse.Namespace) -> int:
    from lunar_hil.profiles.loader import load_profile

    profile = load_profile(args.profile)
    band = pick_band(profile, args.band)
    coding = channel_coding(band)
    dictionary = telemetry_dictionary(profile, band)
    receiver = Receiver(coding, scid=band.scid, idle_vcid=band.idle_vcid, keep_frames=False)
    outputs = _Outputs(args.packets_out, args.params_out, dictionary)
    src = args.source
    try:
        if "://" in src:
            async def pump() -> None:
                # The socket is read by its own task while the receiver works
                # in a thread on everything that arrived meanwhile: a datagram
                # source has no backpressure, so it must never wait on decoding.
                pending: list[bytes] = []
                arrived = asyncio.Event()
                done = False

                async def read() -> None:
                    nonlocal done
                    try:
                        async for data in _read_network(src, args.idle_timeout):
                            pending.append(data)
                            arrived.set()
                    finally:
                        done = True
                        arrived.set()

                reader = asyncio.create_task(read())
                while True:
                    await arrived.wait()
                    arrived.clear()
                    if pending:
                        batch = b"".join(pending)
                        pending.clear()
                        outputs.take(await asyncio.to_thread(receiver.feed, batch))
                    if done and not pending:
                        break
                await reader
                outputs.take(receiver.flush())

            try:
                asyncio.run(pump())
            except KeyboardInterrupt:
                outputs.take(receiver.flush())
        else:
            path = Path(src.removeprefix("file:"))
            decode_stream(receiver, _read_file(path, args.chunk), outputs)
    finally:
        outputs.close()
    counts = receiver.counters.as_dict()
    if args.json:
        print(json.dumps(counts))
    else:
        _print_table(counts, profile.id, band.name)
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

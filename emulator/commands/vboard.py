"""``lunar-hil vboard``: a firmware stub running as a virtual board.

The same firmware code as on an MCU (:mod:`lunar_hil.firmware_stubs.board`)
behind a pty, a real serial port or an MQTT broker.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import sys
import time
import tty
from typing import Any

from lunar_hil.firmware_stubs.board import BoardFirmware
from lunar_hil.firmware_stubs.protocol import BOARD_KIND_NAMES

from ..errors import ConfigError

KINDS = {name: kind for kind, name in BOARD_KIND_NAMES.items()}
#: How often the loop wakes without input (the payload board's stream cadence).
POLL_S = 0.02


class _PtyPort:
    """The board's end of a new pseudo-terminal; the host opens the printed path."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        # Raw: no echo, no line editing, every byte (0x00 included) passes as is.
        tty.setraw(self.slave)
        tty.setraw(self.master)
        self.path = os.ttyname(self.slave)

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.master, 65536)
        except OSError:  # EIO: no process has the other end open right now
            time.sleep(timeout)
            return b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            _, ready, _ = select.select([], [self.master], [], 1.0)
            if not ready:
                return  # nobody reads: a real UART would also lose these bytes
            view = view[os.write(self.master, view) :]

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "vboard", help="run a firmware stub as a virtual board (GNC, payload, EPS)",
        description="Run the GNC, payload or EPS firmware stub as a board on a new pty, a serial "
        "port or an MQTT broker, speaking the lunar-hil board protocol.",
        epilog="example: lunar-hil vboard gnc --port pty --terrain-aware   (prints "
        "'pty: /dev/pts/N'; then: lunar-hil run --profile hakuto-r-m1 --scenario "
        "descent-lrf-anomaly --board gnc=/dev/pts/N --speed max)",
    )
    p.add_argument("kind", choices=sorted(KINDS), help="which board")
    p.add_argument("--port", default="pty",
                   help="pty (default; prints its path), serial:DEV?baud=N, or mqtt://HOST:PORT/PREFIX "
                   "(topics PREFIX/board/KIND/down and /up)")
    p.add_argument("--terrain-aware", action="store_true",
                   help="GNC: the terrain-aware innovation gate (a consistent range step is "
                   "terrain, not a sensor fault)")
    p.add_argument("--stop-after", type=int, default=0, metavar="N",
                   help="fault injection: go silent after answering N frames (0 = never)")
    p.add_argument("--duration", type=float, default=0.0, metavar="SECONDS",
                   help="exit after this many wall seconds (0 = run until interrupted)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    firmware = BoardFirmware(KINDS[args.kind], terrain_aware=args.terrain_aware)
    port: Any
    if args.port == "pty":
        port = _PtyPort()
        print(f"pty: {port.path}", flush=True)
    else:
        from ..boards.link import open_board_transport

        if args.port.startswith("mqtt:"):
            from lunar_hil.drivers.url import parse_url

            from ..boards.link import MqttBoardTransport

            port = MqttBoardTransport(parse_url(args.port), args.kind, board_side=True)
        elif args.port.startswith(("serial:", "/dev/")):
            port = open_board_transport(args.port, args.kind)
        else:
            raise ConfigError(f"--port {args.port}: expected pty, serial:DEV or mqtt://HOST/PREFIX")
        print(f"board: {args.kind} on {args.port}", flush=True)
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    start = time.monotonic()
    answered = 0
    try:
        while not stop:
            now = time.monotonic() - start
            if args.duration and now >= args.duration:
                break
            data = port.read(POLL_S)
            if data:
                answer = firmware.receive(data)
                if answer and not (args.stop_after and answered >= args.stop_after):
                    port.write(answer)
                    answered += 1
            stream = firmware.poll(time.monotonic() - start)
            if stream:
                port.write(stream)
    except KeyboardInterrupt:
        pass
    finally:
        port.close()
        counters = firmware.decoder.counters
        print(f"board {args.kind}: frames={counters['frames']} rejected={firmware.decoder.rejected} "
              f"answered={answered}", file=sys.stderr)
    return 0

"""UDP as ground software expects it: paced datagrams, one packet per datagram.

The receiver is a separate process with the kernel's DEFAULT socket buffer
(it never touches SO_RCVBUF), as a ground tool that was not tuned would be, and
like one that does work between reads it drains its socket every 20 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import subprocess
import sys
import time

from lunar_hil.drivers.udp import UdpSink
from lunar_hil.drivers.url import parse_url
from tests.drivers.aio import run_bounded

#: Ka band of the shipped profiles: 20 Mbit/s of CADUs (ASM + RS(255,223) x 5).
KA_BPS = 20_000_000
CADU = 4 + 255 * 5
BLOCK_S = 0.1  # the engine's block at 1x

RECEIVER = r"""
import socket, sys, time
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), flush=True)
sock.setblocking(False)
idle_s, poll_s = float(sys.argv[1]), float(sys.argv[2])
count = 0
seen = set()
last = time.monotonic()
while time.monotonic() - last < idle_s:
    time.sleep(poll_s)  # the ground tool's own work between reads
    while True:
        try:
            data = sock.recv(70000)
        except BlockingIOError:
            break
        count += 1
        seen.add(int.from_bytes(data[:4], "big"))
        last = time.monotonic()
print(count, len(seen), flush=True)
"""

#: How often the receiver drains its socket.
POLL_S = 0.02


def start_receiver(idle_s: float = 1.5) -> tuple[subprocess.Popen[str], int, int]:
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER, str(idle_s), str(POLL_S)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port, rcvbuf = map(int, proc.stdout.readline().split())
    return proc, port, rcvbuf


def finish(proc: subprocess.Popen[str]) -> tuple[int, int]:
    out, _ = proc.communicate(timeout=30)
    count, unique = map(int, out.split())
    return count, unique


def cadus(first: int, n: int) -> bytes:
    return b"".join(struct.pack(">I", i) + bytes(CADU - 4) for i in range(first, first + n))


def send_blocks(port: int, seconds: float, pace: float | None) -> tuple[int, float]:
    per_block = round(KA_BPS / 8 / CADU * BLOCK_S)
    blocks = round(seconds / BLOCK_S)

    async def main() -> float:
        sink = UdpSink(parse_url(f"udp://127.0.0.1:{port}"), frame_bytes=CADU,
                       pace_bytes_per_s=pace)
        await sink.open()
        t0 = time.monotonic()
        for b in range(blocks):
            await sink.write(cadus(b * per_block, per_block))  # one engine block at once
            # The engine's clock: the next block is produced at its wall time (1x).
            await asyncio.sleep(max(0.0, t0 + (b + 1) * BLOCK_S - time.monotonic()))
        elapsed = time.monotonic() - t0
        await sink.close()
        return elapsed

    return blocks * per_block, run_bounded(main(), 60)


def test_paced_ka_at_1x_into_a_default_buffer_receiver_loses_nothing() -> None:
    proc, port, rcvbuf = start_receiver()
    assert rcvbuf < 1 << 20  # really the default, not a tuned 8 MiB buffer
    sent, elapsed = send_blocks(port, 2.0, pace=KA_BPS / 8)
    count, unique = finish(proc)
    assert (count, unique) == (sent, sent)
    # Pacing holds the line rate: 2 s of Ka takes about 2 s, not a burst.
    assert 1.8 < elapsed < 2.6


def test_the_same_blocks_unpaced_overflow_a_default_buffer() -> None:
    """The defect pacing fixes: each 0.1 s block (~250 kB) as one burst."""
    proc, port, _ = start_receiver()
    sent, _ = send_blocks(port, 1.0, pace=None)
    count, _ = finish(proc)
    assert count < sent


def packet(apid: int, seq: int, body_len: int) -> bytes:
    header = struct.pack(">HHH", 0x0800 | apid, 0xC000 | seq, body_len - 1)
    return header + bytes([seq & 0xFF]) * body_len


def test_packets_layer_sends_one_space_packet_per_datagram() -> None:
    packets = [packet(100 + i % 3, i, 10 + 37 * i % 400) for i in range(50)]
    stream = b"".join(packets)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(2.0)
        port = rx.getsockname()[1]

        async def main() -> dict[str, int]:
            sink = UdpSink(parse_url(f"udp://127.0.0.1:{port}"), packet_stream=True)
            await sink.open()
            # Writes split inside packets: datagrams must still be whole packets.
            for start in range(0, len(stream), 777):
                await sink.write(stream[start : start + 777])
            await sink.close()
            return sink.counters

        counters = run_bounded(main(), 30)
        got = [rx.recv(70000) for _ in packets]
    assert got == packets
    assert counters["datagrams"] == len(packets)


def test_run_sends_one_packet_per_datagram_with_layer_packets() -> None:
    """``run --out udp://...?layer=packets``, as Yamcs' UdpTmDataLink expects."""
    import threading

    from lunar_hil.emulator.ccsds.packets import SpacePacket

    datagrams: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        # At --speed max the packets come as fast as the run makes them; a
        # receiver needs the 8 MiB buffer the README asks for (a loaded CI
        # machine reads slower than loopback delivers).
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(3.0)
        port = rx.getsockname()[1]

        def read() -> None:  # a ground tool reading while the run sends
            with contextlib.suppress(TimeoutError):
                while True:
                    datagrams.append(rx.recv(70000))

        reader = threading.Thread(target=read)
        reader.start()
        out = subprocess.run(
            [sys.executable, "-m", "lunar_hil.emulator.cli", "run", "--profile", "apex-1.0",
             "--speed", "max", "--duration", "30", "--json",
             "--out", f"udp://127.0.0.1:{port}?layer=packets"],
            capture_output=True, text=True, timeout=120,
        )
        reader.join(30)
    assert out.returncode == 0, out.stderr
    sent = json.loads(out.stdout)["packets"]
    assert len(datagrams) == sent > 0
    for d in datagrams:
        packet = SpacePacket.unpack(d)
        assert packet.header.packet_length == len(d)

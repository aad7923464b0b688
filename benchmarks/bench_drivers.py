"""Driver and board-loop figures: ``python benchmarks/bench_drivers.py [--quick] [--json]``.

* UDP loopback: paced CADU datagrams into a receiver process with an 8 MiB
  socket buffer; coded Mbit/s achieved and datagrams lost.
* MQTT to a local mosquitto (started here): CADU messages/s at QoS 0 and QoS 1,
  and messages lost as counted by a subscriber process.
* pty at 1x: ``lunar-hil run --speed 1 --out pty`` for 30 s (10 s with --quick),
  bytes read from the pty against the band's line rate.
* Board loop: round trips/s in lockstep with ``lunar-hil vboard gnc`` on a pty,
  and the wall time of the whole powered descent.

Figures, not assertions: benchmarks never fail on time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lunar_hil.drivers.mqtt import MqttSink
from lunar_hil.drivers.udp import UdpSink
from lunar_hil.drivers.url import parse_url

CADU = 4 + 255 * 5  # Ka/X band CADU of the shipped profiles

UDP_RECEIVER = r"""
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
want = 8 * 1024 * 1024
try:
    sock.setsockopt(socket.SOL_SOCKET, 33, want)  # SO_RCVBUFFORCE (root)
except OSError:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, want)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), flush=True)
sock.settimeout(1.0)
n = b = 0
try:
    while True:
        data = sock.recv(70000)
        n += 1
        b += len(data)
except socket.timeout:
    pass
print(n, b, flush=True)
"""

MQTT_SUBSCRIBER = r"""
import asyncio, sys, aiomqtt
async def main():
    n = 0
    async with aiomqtt.Client("127.0.0.1", int(sys.argv[1])) as c:
        await c.subscribe(sys.argv[2], qos=int(sys.argv[3]))
        print("ready", flush=True)
        try:
            async with asyncio.timeout(float(sys.argv[4])):
                async for _ in c.messages:
                    n += 1
                    if n == int(sys.argv[5]):
                        break
        except TimeoutError:
            pass
    print(n, flush=True)
asyncio.run(main())
"""


def bench_udp(quick: bool) -> dict[str, Any]:
    target_mbps = 250.0
    n = 50_000 if quick else 200_000
    proc = subprocess.Popen([sys.executable, "-c", UDP_RECEIVER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port, rcvbuf = map(int, proc.stdout.readline().split())
    block = b"".join(i.to_bytes(4, "big") + bytes(CADU - 4) for i in range(1000))

    async def send() -> float:
        sink = UdpSink(parse_url(f"udp://127.0.0.1:{port}"), frame_bytes=CADU,
                       pace_bytes_per_s=target_mbps * 1e6 / 8)
        await sink.open()
        t0 = time.perf_counter()
        for _ in range(n // 1000):
            await sink.write(block)
        elapsed = time.perf_counter() - t0
        await sink.close()
        return elapsed

    elapsed = asyncio.run(send())
    out, _ = proc.communicate(timeout=60)
    got, _ = map(int, out.split())
    return {"udp_coded_mbps": round(n * CADU * 8 / elapsed / 1e6, 1), "udp_datagrams": n,
            "udp_lost": n - got, "udp_receiver_buffer_bytes": rcvbuf,
            "udp_target_mbps": target_mbps}


def _start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n"
                    "max_queued_messages 1000000\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc, port
        time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def bench_mqtt(quick: bool) -> dict[str, Any]:
    n = 20_000 if quick else 100_000
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        broker, port = _start_mosquitto(Path(tmp))
        try:
            for qos in (0, 1):
                prefix = f"bench{qos}"
                sub = subprocess.Popen(
                    [sys.executable, "-c", MQTT_SUBSCRIBER, str(port), f"{prefix}/lander/tm/cadu",
                     str(qos), "120", str(n)], stdout=subprocess.PIPE, text=True)
                assert sub.stdout is not None
                sub.stdout.readline()
                block = bytes(CADU) * 1000

                async def send(prefix: str = prefix, qos: int = qos, block: bytes = block) -> float:
                    sink = MqttSink(parse_url(f"mqtt://127.0.0.1:{port}/{prefix}?qos={qos}"),
                                    frame_bytes=CADU, lander="lander")
                    await sink.open()
                    t0 = time.perf_counter()
                    for _ in range(n // 1000):
                        await sink.write(block)
                    await sink.close()
                    return time.perf_counter() - t0

                elapsed = asyncio.run(send())
                out, _ = sub.communicate(timeout=180)
                result[f"mqtt_qos{qos}_msgs_per_s"] = round(n / elapsed)
                result[f"mqtt_qos{qos}_lost"] = n - int(out.split()[-1])
        finally:
            broker.terminate()
            broker.wait(10)
    return result


def bench_pty(quick: bool) -> dict[str, Any]:
    seconds = 10 if quick else 30
    profile, band = "apex-1.0", "X"
    info = json.loads(subprocess.run(
        [sys.executable, "-m", "lunar_hil.emulator.cli", "profiles", "show", profile, "--json"],
        capture_output=True, text=True, check=True).stdout)
    rate = next(b["bit_rate_bps"] for b in info["bands"] if b["name"] == band)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lunar_hil.emulator.cli", "run", "--profile", profile, "--band",
         band, "--speed", "1", "--duration", str(seconds + 5), "--out", "pty", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    path = ""
    while not path:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("run --out pty printed no path")
        if line.startswith("pty: "):
            path = line.split(": ", 1)[1].strip()
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY)
    import tty

    tty.setraw(fd)
    total = 0
    start = None
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            now = time.monotonic()
            if start is None:
                start = now  # count from the first byte: startup is not line rate
                continue
            total += len(chunk)
            if now - start >= seconds:
                break
    finally:
        os.close(fd)
        proc.terminate()
        proc.wait(30)
    elapsed = time.monotonic() - (start or 0.0)
    measured = total * 8 / elapsed
    return {"pty_line_rate_bps": rate, "pty_measured_bps": round(measured),
            "pty_error_percent": round((measured - rate) / rate * 100, 2), "pty_seconds": seconds}


def bench_board_loop() -> dict[str, Any]:
    from lunar_hil.emulator.boards import (
        LOCKSTEP_TIMEOUT_S,
        BoardLink,
        GncBoardController,
        open_board_transport,
    )
    from lunar_hil.emulator.sim.params import PRESETS
    from lunar_hil.emulator.sim.scenario import load_scenario
    from lunar_hil.emulator.sim.simulation import LanderSimulation

    proc = subprocess.Popen(
        [sys.executable, "-m", "lunar_hil.emulator.cli", "vboard", "gnc", "--port", "pty"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    path = proc.stdout.readline().split(": ", 1)[1].strip()
    try:
        link = BoardLink("gnc", open_board_transport(path, "gnc"), timeout_s=LOCKSTEP_TIMEOUT_S)
        sim = LanderSimulation(PRESETS["generic-heater"], load_scenario("descent"))
        sim.gnc_computer = GncBoardController(link)
        t0 = time.perf_counter()
        block = sim.advance(1800.0)
        wall = time.perf_counter() - t0
        touchdown = next(e.t_s for e in block.events if str(e.kind) in ("touchdown", "crash"))
        summary = link.summary()
        link.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return {"board_round_trips": summary["round_trips"],
            "board_round_trips_per_s": round(summary["round_trips"] / wall),
            "board_latency_ms_p50": summary["latency_ms_p50"],
            "board_latency_ms_p99": summary["latency_ms_p99"],
            "board_descent_sim_s": round(touchdown, 1),
            "board_descent_wall_s": round(wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", choices=["udp", "mqtt", "pty", "board"], action="append")
    args = parser.parse_args()
    parts = {"udp": lambda: bench_udp(args.quick), "mqtt": lambda: bench_mqtt(args.quick),
             "pty": lambda: bench_pty(args.quick), "board": bench_board_loop}
    result: dict[str, Any] = {}
    for name in args.only or list(parts):
        result.update(parts[name]())
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:32s} {value}")


if __name__ == "__main__":
    main()

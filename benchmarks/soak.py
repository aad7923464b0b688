"""Soak: ``lunar-hil run`` at the Ka rate in real time for 10 minutes, with a broker
restart and TCP reconnects in the middle (issue 11).

    python benchmarks/soak.py [--minutes N | --quick] [--json] [--plot FILE.png]

What runs (all on 127.0.0.1, started and stopped by this script):

* ``lunar-hil run --profile series-3 --band Ka --ideal-link --speed 1 --duration T --json``
  (20 Mbit/s, ~1955 CADUs/s of 1279 bytes, 2.5 MB/s per output).  ``--ideal-link``
  keeps the link model (outages, BER) out of the counters.  With ``--out`` given
  the run has no embedded ground receiver, so the ground receiver is a
  ``lunar-hil decode`` process listening on TCP, fed by a ``tcp+connect://`` output;
* ``tcp://127.0.0.1:P`` (listen) read by a socket reader in this process, which
  disconnects cleanly (FIN) at 0.55 T and resets (RST) at 0.7 T, reconnecting
  after 1 s each time;
* ``mqtt://127.0.0.1:P/soak?qos=1`` to a real mosquitto (persistence on), killed
  (SIGTERM by default, ``--broker-signal kill``) at 0.4 T and started again on
  the same port 2 s later; a paho subscriber with a fixed client id and a
  persistent session (QoS 1) counts the messages.

Consumers derandomize each CADU's frame header and count unique frames per
virtual channel by the VC frame count, so duplicates (TCP replay, QoS 1
redelivery) are not counted twice and every missing count is seen.  Frames
expected = floor(T * frames per second).  Every ``--every`` seconds the run's
RSS (VmRSS), its CPU time and the consumers' counters are sampled; the RSS slope
is a least-squares fit over the second half.  Not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ASM = bytes.fromhex("1acffc1d")


def lunar_hil() -> list[str]:
    exe = Path(sys.executable).with_name("lunar-hil")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "lunar_hil.emulator.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class FrameTracker:
    """Counts CADUs, unique frames (by VC and VC frame count), duplicates and gaps."""

    def __init__(self, pn: bytes) -> None:
        self.pn = pn
        self.cadus = 0
        self.unique = 0
        self.duplicates = 0
        self.gaps = 0  # frame counts skipped within a VC
        self.bad_asm = 0
        self.last: dict[int, int] = {}

    def feed(self, cadu: bytes) -> None:
        self.cadus += 1
        if cadu[:4] != ASM:
            self.bad_asm += 1
            return
        h = bytes(a ^ b for a, b in zip(cadu[4:9], self.pn, strict=True))
        vcid = ((h[0] << 8) | h[1]) & 0x3F
        count = (h[2] << 16) | (h[3] << 8) | h[4]
        last = self.last.get(vcid, -1)
        if count > last:
            self.unique += 1
            self.gaps += count - last - 1
            self.last[vcid] = count
        else:
            self.duplicates += 1

    def as_dict(self) -> dict[str, int]:
        return {"cadus": self.cadus, "unique_frames": self.unique, "duplicates": self.duplicates,
                "gaps": self.gaps, "bad_asm": self.bad_asm}


class TcpReader(threading.Thread):
    """Reads the tcp:// listen output; ``disconnect("clean"|"reset")`` drops the
    connection once, then it connects again after ``gap`` seconds."""

    def __init__(self, port: int, cadu_len: int, pn: bytes) -> None:
        super().__init__(daemon=True)
        self.port, self.cadu_len = port, cadu_len
        self.tracker = FrameTracker(pn)
        self.bytes = 0
        self.connections = 0
        self.unexpected_eofs = 0
        self.stop = threading.Event()
        self._request: tuple[str, float] | None = None
        self.eof = threading.Event()

    def disconnect(self, how: str, gap: float) -> None:
        self._request = (how, gap)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=1.0)
            except OSError:
                time.sleep(0.05)
                continue
            self.connections += 1
            self.eof.clear()
            gap = self._session(sock)
            if gap:
                time.sleep(gap)

    def _consume(self, buf: bytearray, data: bytes) -> None:
        self.bytes += len(data)
        buf += data
        n = len(buf) // self.cadu_len
        for i in range(n):
            self.tracker.feed(bytes(buf[i * self.cadu_len:(i + 1) * self.cadu_len]))
        del buf[:n * self.cadu_len]

    def _session(self, sock: socket.socket) -> float:
        buf = bytearray()  # each connection starts at a CADU boundary
        sock.settimeout(0.2)
        with sock:
            while True:
                request, self._request = self._request, None
                if request is not None:
                    how, gap = request
                    if how == "reset":
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        return gap
                    # Clean: FIN, then read what is still in flight until the sink closes.
                    sock.shutdown(socket.SHUT_WR)
                    sock.settimeout(10.0)
                    with contextlib.suppress(OSError):
                        while data := sock.recv(1 << 20):
                            self._consume(buf, data)
                    return gap
                try:
                    data = sock.recv(1 << 20)
                except TimeoutError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.eof.set()
                    if not self.stop.is_set():
                        self.unexpected_eofs += 1  # the run's end is counted here too
                    return 0.2
                self._consume(buf, data)


class MqttCounter:
    """A paho subscriber, QoS 1, fixed client id, persistent session."""

    def __init__(self, port: int, topic: str, pn: bytes) -> None:
        import paho.mqtt.client as mqtt

        self.tracker = FrameTracker(pn)
        self.messages = 0
        self.connects = 0
        self.sessions_resumed = 0
        self.last_message = time.monotonic()
        self.subscribed = threading.Event()
        self.topic = topic
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"lunar-hil-soak-{os.getpid()}", clean_session=False)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(0.1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connects += 1
        if getattr(flags, "session_present", False):
            self.sessions_resumed += 1
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self.messages += 1
        self.last_message = time.monotonic()
        self.tracker.feed(msg.payload)

    def close(self) -> None:
        self.client.loop_stop()
        with contextlib.suppress(Exception):
            self.client.disconnect()


def start_broker(conf: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def proc_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def proc_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def slope_mb_per_min(samples: list[dict[str, Any]], t_from: float) -> float | None:
    pts = [(s["t"], s["rss_mb"]) for s in samples if s["t"] >= t_from and s["rss_mb"] is not None]
    if len(pts) < 3:
        return None
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mr = sum(r for _, r in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    if var == 0:
        return None
    return sum((t - mt) * (r - mr) for t, r in pts) / var * 60.0


def soak(args: argparse.Namespace) -> dict[str, Any]:
    from lunar_hil.emulator.binding import band_setup, pick_band
    from lunar_hil.emulator.ccsds.randomizer import randomizer_sequence
    from lunar_hil.profiles.loader import load_profile

    seconds = 60.0 if args.quick else args.minutes * 60.0
    setup = band_setup(pick_band(load_profile(args.profile), args.band))
    if setup.coding.convolutional:
        raise SystemExit(f"{args.profile} {args.band}: a convolutional channel; this soak reads "
                         "plain CADUs")
    cadu_len = setup.coding.channel_bytes_per_frame
    fps = setup.frames_per_second
    expected = math.floor(seconds * fps)
    pn = bytes(randomizer_sequence(5))
    load_start = [round(x, 2) for x in os.getloadavg()]
    ground_port, tcp_port, mqtt_port = free_port(), free_port(), free_port()
    events: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    procs: list[subprocess.Popen[Any]] = []
    with tempfile.TemporaryDirectory(prefix="lunar-hil-soak-") as tmp:
        work = Path(tmp)
        conf = work / "mosquitto.conf"
        conf.write_text(f"listener {mqtt_port} 127.0.0.1\nallow_anonymous true\nuser root\n"
                        f"persistence true\npersistence_location {work}/\n"
                        "max_queued_messages 0\nmax_queued_bytes 0\n")
        procs.append(start_broker(conf))
        reader = TcpReader(tcp_port, cadu_len, pn)
        sub: MqttCounter | None = None
        try:
            wait_port(mqtt_port)
            sub = MqttCounter(mqtt_port, f"soak/{args.profile}/tm/cadu", pn)
            if not sub.subscribed.wait(10):
                raise RuntimeError("the MQTT subscriber got no SUBACK")
            ground_out = (work / "ground.json").open("w")
            ground = subprocess.Popen(
                [*lunar_hil(), "decode", "--profile", args.profile, "--band", args.band, "--json",
                 f"tcp://127.0.0.1:{ground_port}"], stdout=ground_out, stderr=subprocess.PIPE,
                text=True)
            procs.append(ground)
            run_out = (work / "run.json").open("w")
            run_err = (work / "run.err").open("w")
            cmd = [*lunar_hil(), "run", "--profile", args.profile, "--band", args.band,
                   "--ideal-link", "--speed", "1", "--duration", f"{seconds:g}", "--json",
                   "--connect-timeout", "30",
                   "--out", f"tcp+connect://127.0.0.1:{ground_port}",
                   "--out", f"tcp://127.0.0.1:{tcp_port}",
                   "--out", f"mqtt://127.0.0.1:{mqtt_port}/soak?qos=1"]
            t0 = time.monotonic()
            run = subprocess.Popen(cmd, stdout=run_out, stderr=run_err, text=True)
            procs.append(run)
            reader.start()
            plan = [(0.4 * seconds, "broker_restart"), (0.55 * seconds, "tcp_clean_disconnect"),
                    (0.7 * seconds, "tcp_reset_disconnect")]
            next_sample = 0.0

            def restart_broker() -> None:
                old = procs[0]
                old.send_signal(signal.SIGKILL if args.broker_signal == "kill" else signal.SIGTERM)
                old.wait(30)
                events.append({"t": round(time.monotonic() - t0, 2), "event": "broker_down"})
                time.sleep(args.broker_down)
                procs.insert(0, start_broker(conf))  # procs[0]: the broker now
                wait_port(mqtt_port)
                events.append({"t": round(time.monotonic() - t0, 2), "event": "broker_up"})

            while run.poll() is None:
                t = time.monotonic() - t0
                if plan and t >= plan[0][0]:
                    _, what = plan.pop(0)
                    events.append({"t": round(t, 2), "event": what})
                    if what == "broker_restart":
                        # In a thread, so that sampling goes on while the broker is down.
                        restarter = threading.Thread(target=restart_broker, daemon=True)
                        restarter.start()
                    else:
                        reader.disconnect("clean" if "clean" in what else "reset", 1.0)
                if t >= next_sample:
                    samples.append({
                        "t": round(t, 2), "rss_mb": proc_rss_mb(run.pid),
                        "cpu_s": proc_cpu_s(run.pid), "tcp_bytes": reader.bytes,
                        "tcp_frames": reader.tracker.unique, "mqtt_messages": sub.messages,
                        "mqtt_frames": sub.tracker.unique})
                    next_sample += args.every
                time.sleep(0.1)
            wall = time.monotonic() - t0
            # Let the consumers drain: decode exits when the run's connection
            # closes, the reader sees EOF, MQTT goes quiet.
            with contextlib.suppress(subprocess.TimeoutExpired):
                ground.wait(30)
            reader.eof.wait(15)
            reader.stop.set()
            deadline = time.monotonic() + 30
            while (time.monotonic() < deadline and sub.tracker.unique < expected
                   and time.monotonic() - sub.last_message < 5):
                time.sleep(0.2)
            run_out.close()
            run_err.close()
            ground_out.close()
            text = (work / "run.json").read_text().strip().splitlines()
            summary = json.loads(text[-1]) if text else {}
            gtext = (work / "ground.json").read_text().strip().splitlines()
            ground_counters = json.loads(gtext[-1]) if gtext else {}
            stderr_tail = (work / "run.err").read_text().strip().splitlines()[-10:]
            exit_code = run.returncode
        finally:
            if sub is not None:
                sub.close()
            reader.stop.set()
            for p in procs:
                if p.poll() is None:
                    p.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        p.wait(10)
                    if p.poll() is None:
                        p.kill()
    # "start": once the run has imported everything and opened its outputs.
    settled = min(10.0, seconds / 6)
    rss = [s["rss_mb"] for s in samples if s["rss_mb"] is not None and s["t"] >= settled]
    sinks = {s["url"].split(":")[0]: s for s in summary.get("sinks", [])}
    consumers = {
        "ground_decode": {"frames": ground_counters.get("frames_ok", 0),
                          "cadus": ground_counters.get("cadus", 0),
                          "vc_count_gaps": ground_counters.get("vc_count_gaps"),
                          "rs_uncorrectable": ground_counters.get("rs_uncorrectable")},
        "tcp_reader": {"frames": reader.tracker.unique, "bytes": reader.bytes,
                       "connections": reader.connections, **reader.tracker.as_dict()},
        "mqtt_sub": {"frames": sub.tracker.unique if sub else 0,
                     "messages": sub.messages if sub else 0,
                     "connects": sub.connects if sub else 0,
                     "sessions_resumed": sub.sessions_resumed if sub else 0,
                     **(sub.tracker.as_dict() if sub else {})},
    }
    for c in consumers.values():
        c["lost"] = expected - c["frames"]
    cpu = [s["cpu_s"] for s in samples if s["cpu_s"] is not None]
    return {
        "profile": args.profile, "band": args.band, "link": "ideal (--ideal-link)",
        "seconds": seconds, "wall_seconds": round(wall, 1), "frames_per_second": round(fps, 3),
        "cadu_bytes": cadu_len, "frames_expected": expected, "run_exit": exit_code,
        "broker_signal": args.broker_signal, "broker_down_s": args.broker_down,
        "rss_start_mb": round(rss[0], 1) if rss else None,
        "rss_end_mb": round(rss[-1], 1) if rss else None,
        "rss_max_mb": round(max(rss), 1) if rss else None,
        "rss_slope_mb_per_min": (None if (sl := slope_mb_per_min(samples, seconds / 2)) is None
                                 else round(sl, 3)),
        "run_cpu_s": round(cpu[-1], 1) if cpu else None,
        "consumers": consumers, "sinks": sinks,
        "events": sorted(events, key=lambda e: e["t"]),
        "loadavg_start": load_start, "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "run_summary": {k: v for k, v in summary.items() if k != "sinks"},
        "run_stderr_tail": stderr_tail, "samples": samples,
    }


def print_table(r: dict[str, Any]) -> None:
    print(f"soak: {r['profile']} {r['band']} {r['link']}, {r['seconds']:g} s paced "
          f"(wall {r['wall_seconds']} s, run exit {r['run_exit']}, run CPU {r['run_cpu_s']} s)")
    print(f"machine: {r['cpus']} CPUs, load average {r['loadavg_start']} at start, "
          f"{r['loadavg_end']} at end")
    print(f"frames expected floor(T*{r['frames_per_second']}) = {r['frames_expected']}; "
          f"run says frames={r['run_summary'].get('frames')}")
    print(f"RSS start (t>=10 s) {r['rss_start_mb']} MB, end {r['rss_end_mb']} MB, max {r['rss_max_mb']} MB, "
          f"slope (2nd half) {r['rss_slope_mb_per_min']} MB/min")
    print(f"{'consumer':<14}{'frames':>10}{'lost':>8}{'dups':>8}{'gaps':>7}  notes")
    for name, c in r["consumers"].items():
        if name == "ground_decode":
            notes = (f"cadus={c['cadus']} vc_gaps={c['vc_count_gaps']} "
                     f"rs_uncorr={c['rs_uncorrectable']}")
        elif name == "tcp_reader":
            notes = f"connections={c['connections']} bytes={c['bytes']}"
        else:
            notes = (f"messages={c['messages']} connects={c['connects']} "
                     f"sessions_resumed={c['sessions_resumed']}")
        print(f"{name:<14}{c['frames']:>10}{c['lost']:>8}{c.get('duplicates', '-'):>8}"
              f"{c.get('gaps', '-'):>7}  {notes}")
    for scheme, s in r["sinks"].items():
        keys = ("bytes_out", "dropped_bytes", "reconnects", "replayed_bytes", "lost_bytes",
                "unconfirmed_bytes", "messages", "clients", "stalled_clients")
        print(f"sink {scheme:<12}" + " ".join(f"{k}={s[k]}" for k in keys if k in s))
    print("events: " + ", ".join(f"{e['event']}@{e['t']}s" for e in r["events"]))
    for line in r["run_stderr_tail"]:
        print(f"  run stderr: {line}")


def plot(r: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = r["samples"]
    t = [x["t"] for x in s]
    fig, (a1, a2) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    a1.plot(t, [x["rss_mb"] for x in s], label="run VmRSS")
    a1.set_ylabel("MB")
    a1.legend()
    a2.plot(t, [x["tcp_frames"] for x in s], label="tcp reader (unique frames)")
    a2.plot(t, [x["mqtt_frames"] for x in s], label="MQTT subscriber (unique frames)")
    a2.plot(t, [min(x * r["frames_per_second"], r["frames_expected"]) for x in t], "k:",
            label="T * frames/s")
    for e in r["events"]:
        for ax in (a1, a2):
            ax.axvline(e["t"], color="grey", lw=0.5)
    a2.set_xlabel("wall s")
    a2.set_ylabel("frames")
    a2.legend()
    fig.suptitle(f"soak {r['profile']} {r['band']}: RSS slope {r['rss_slope_mb_per_min']} MB/min")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="soak length (default 10)")
    ap.add_argument("--quick", action="store_true", help="a 60 s smoke run")
    ap.add_argument("--profile", default="series-3")
    ap.add_argument("--band", default="Ka")
    ap.add_argument("--every", type=float, default=2.0, help="sampling period, s")
    ap.add_argument("--broker-signal", choices=["term", "kill"], default="term",
                    help="how the broker is stopped mid-run (kill: its in-memory state is lost)")
    ap.add_argument("--broker-down", type=float, default=2.0, help="seconds without a broker")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--plot", metavar="FILE.png", help="RSS and frames received vs time")
    args = ap.parse_args()
    r = soak(args)
    if args.json:
        print(json.dumps(r))
    else:
        print_table(r)
    if args.plot:
        plot(r, args.plot)
    lost = any(c["lost"] for c in r["consumers"].values())
    return 1 if lost or r["run_exit"] not in (0, None) else 0


if __name__ == "__main__":
    sys.exit(main())

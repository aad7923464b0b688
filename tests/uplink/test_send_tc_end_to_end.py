"""TC end to end through real sockets and processes: ``lunar-hil run`` with an
uplink, ``lunar-hil send-tc`` against it; the heater follows the commands in
the decoded telemetry and the CLCW's N(R) advances in the downlink frames.

On the surface the sim steps every 60 s and a command takes effect from the
next row it computes, so the run lasts 300 sim seconds (10 s of wall at x30)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from lunar_hil.emulator.binding import band_setup, pick_band
from lunar_hil.emulator.boards.rig import TIME_CORRELATION_APID
from lunar_hil.emulator.ccsds.clcw import Clcw
from lunar_hil.emulator.ccsds.packets import scan_space_packets
from lunar_hil.emulator.ccsds.receiver import Receiver
from lunar_hil.profiles.loader import load_profile

CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]
PROFILE, BAND = "apex-1.0", "X"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def send_tc(uplink: int, downlink: int, *command: str) -> dict[str, object]:
    out = subprocess.run(
        [*CLI, "send-tc", "--profile", PROFILE, "--band", BAND,
         "--to", f"udp://127.0.0.1:{uplink}", "--tm", f"udp://127.0.0.1:{downlink}",
         "--timeout", "20", "--json", *command],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_send_tc_turns_the_heater_on_and_nr_advances(tmp_path: Path) -> None:
    uplink, downlink = free_udp_port(), free_udp_port()
    recording = tmp_path / "downlink.bin"
    params = tmp_path / "params.jsonl"
    packets_out = tmp_path / "packets.bin"
    run = subprocess.Popen(
        [*CLI, "run", "--profile", PROFILE, "--band", BAND, "--scenario", "surface-nominal",
         "--speed", "30", "--duration", "300", "--ideal-link",
         "--out", f"udp://127.0.0.1:{downlink}", "--out", f"file:{recording}",
         "--uplink", f"udp://127.0.0.1:{uplink}", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        on = send_tc(uplink, downlink, "HEATER_ON")
        off = send_tc(uplink, downlink, "TIME_CORRELATE")
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    assert run.returncode == 0, err
    summary = json.loads(out)
    assert on["confirmed"] and off["confirmed"]
    assert on["nr_after"] == on["nr_before"] + 1
    assert off["nr_after"] == on["nr_after"] + 1
    assert summary["uplink"]["commands_executed"] == 2
    assert summary["uplink"]["clcw_nr"] == off["nr_after"]
    # TIME_CORRELATE: one packet pairing on-board time with the frames sent.
    (correlation,) = summary["uplink"]["time_correlations"]
    assert 0 < correlation["t_s"] < 300 and correlation["frames_sent"] > 0

    # The downlink recording: N(R) in the OCF goes 0 -> 1 -> 2, never back.
    setup = band_setup(pick_band(load_profile(PROFILE), BAND))
    rx = Receiver(setup.coding, scid=setup.scid, idle_vcid=setup.idle_vcid, keep_frames=False)
    data = recording.read_bytes()
    seen: list[int] = []
    for start in range(0, len(data), 64 * 1024):
        batch = rx.feed(data[start : start + 64 * 1024])
        if batch.clcw is not None:
            nr = Clcw.from_int(batch.clcw).report_value
            if not seen or seen[-1] != nr:
                seen.append(nr)
    assert seen == [0, 1, 2]

    # Decoded telemetry: the heater follows the commands; CMD_ACCEPTED counts them.
    decoded = subprocess.run(
        [*CLI, "decode", "--profile", PROFILE, "--band", BAND, f"file:{recording}",
         "--params-out", str(params), "--packets-out", str(packets_out), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert decoded.returncode == 0, decoded.stderr
    assert json.loads(decoded.stdout)["packets_by_apid"][str(TIME_CORRELATION_APID)] == 1
    packets, _skipped, _used = scan_space_packets(packets_out.read_bytes())
    (tc_packet,) = [p for p in packets if p.apid == TIME_CORRELATION_APID]
    coarse = int.from_bytes(tc_packet.data[:4], "big")
    fine = int.from_bytes(tc_packet.data[4:6], "big")
    # On-board time of execution: the run's first packet is stamped at sim t = 0.
    times = [json.loads(line)["time"] for line in params.read_text().splitlines()]
    epoch_tai = min(t for t in times if t is not None)
    assert abs(coarse + fine / 65536 - epoch_tai - correlation["t_s"]) < 1e-3
    assert int.from_bytes(tc_packet.data[6:10], "big") == correlation["frames_sent"]
    heater: list[float] = []
    accepted: list[float] = []
    last_opcode: list[float] = []
    for line in params.read_text().splitlines():
        row = json.loads(line)
        values = row["params"]
        if "THM_HEATER_ON" in values:
            heater.append(values["THM_HEATER_ON"])
        if "CMD_ACCEPTED" in values:
            accepted.append(values["CMD_ACCEPTED"])
            last_opcode.append(values["CMD_LAST_OPCODE"])
    assert accepted[0] == 0 and accepted[-1] == 2
    assert sorted(set(accepted)) in ([0, 2], [0, 1, 2])  # never more, never back
    assert last_opcode[-1] == 0x60  # TIME_CORRELATE (profile opcode)
    # The thermostat keeps the heater off in the lunar day; HEATER_ON forces it on.
    assert heater[0] == 0 and heater[-1] == 1
    # ... not before the command was executed (both APIDs are sent at 1 Hz).
    first_executed = next(i for i, a in enumerate(accepted) if a >= 1)
    assert abs(heater.index(1) - first_executed) <= 1

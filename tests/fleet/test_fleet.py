"""One ``lunar-hil run`` drives several landers (repeated --profile, or --fleet FILE).

Each lander has its own SCID in every frame (the ground receiver that expects
one SCID refuses the other's frames), its own sinks and its own MQTT topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiomqtt

from lunar_hil.emulator.binding import band_setup, pick_band
from lunar_hil.emulator.ccsds.receiver import Receiver
from lunar_hil.profiles.loader import load_profile
from tests.conftest import MosquittoBroker
from tests.drivers.aio import run_bounded

CLI = [sys.executable, "-m", "lunar_hil.emulator.cli"]


def receive(path: Path, profile_id: str, scid: int) -> dict[str, int]:
    setup = band_setup(pick_band(load_profile(profile_id), "X"))
    receiver = Receiver(setup.coding, scid=scid, idle_vcid=setup.idle_vcid, keep_frames=False)
    receiver.feed(path.read_bytes())
    receiver.flush()
    return dict(receiver.counters.as_dict())


def test_repeated_profile_runs_each_lander_with_its_own_scid_and_sink(tmp_path: Path) -> None:
    out = subprocess.run(
        [*CLI, "run", "--profile", "apex-1.0", "--profile", "series-2", "--profile", "apex-1.0",
         "--band", "X", "--speed", "max", "--duration", "20",
         "--out", f"file:{tmp_path}/{{lander}}.bin", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    landers = summary["landers"]
    assert list(landers) == ["apex-1.0", "series-2", "apex-1.0-2"]
    # The profiles' own SCIDs; the repeat takes the next free one.
    apex_scid = int(pick_band(load_profile("apex-1.0"), "X").scid)
    assert landers["apex-1.0"]["scid"] == apex_scid
    assert landers["apex-1.0-2"]["scid"] == apex_scid + 1
    assert len({s["scid"] for s in landers.values()}) == 3
    assert summary["frames"] == sum(s["frames"] for s in landers.values())
    assert summary["bytes_out"] == sum(s["bytes_out"] for s in landers.values())
    for lander_id, s in landers.items():
        path = tmp_path / f"{lander_id}.bin"
        assert path.stat().st_size == s["bytes_out"] > 0
        own = receive(path, s["profile"], s["scid"])
        assert own["frames_ok"] == own["cadus"] == s["frames"]
        assert own["scid_mismatches"] == 0
        assert own["packets"] == s["packets"]
    # The repeated lander's frames carry its own SCID, not its profile's.
    other = receive(tmp_path / "apex-1.0-2.bin", "apex-1.0", apex_scid)
    assert other["frames_ok"] == 0 and other["scid_mismatches"] == other["cadus"] > 0


def test_fleet_file_landers_publish_on_their_own_topics(
    tmp_path: Path, mosquitto_broker: MosquittoBroker,
) -> None:
    prefix = f"fleet/{uuid.uuid4().hex[:8]}"
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "landers:\n"
        "  - profile: apex-1.0\n    id: alpha\n    scid: 200\n"
        f"    out: [file:{tmp_path}/alpha.bin]\n"
        "  - profile: lupex\n    id: bravo\n    seed: 3\n"
    )

    async def main() -> tuple[dict[str, int], dict[str, Any]]:
        counts = {"alpha": 0, "bravo": 0}
        async with aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as client:
            await client.subscribe(f"{prefix}/+/tm/cadu", qos=1)
            proc = await asyncio.create_subprocess_exec(
                *CLI, "run", "--fleet", str(fleet), "--band", "X", "--speed", "max",
                "--duration", "10", "--idle", "--json", "--out", mosquitto_broker.url(prefix),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

            async def collect() -> None:
                async for message in client.messages:
                    counts[str(message.topic).split("/")[2]] += 1

            reader = asyncio.ensure_future(collect())
            stdout, stderr = await proc.communicate()
            assert proc.returncode == 0, stderr.decode()
            summary = json.loads(stdout)
            # QoS 1 with an acknowledged publish: everything is at the broker already.
            for _ in range(100):
                if all(counts[k] >= summary["landers"][k]["frames"] for k in counts):
                    break
                await asyncio.sleep(0.05)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        return counts, summary

    counts, summary = run_bounded(main(), 120)
    landers = summary["landers"]
    assert landers["alpha"]["scid"] == 200 and landers["alpha"]["profile"] == "apex-1.0"
    assert landers["bravo"]["profile"] == "lupex"
    # One CADU per message on each lander's own topic, every frame it sent.
    assert counts == {k: landers[k]["frames"] for k in counts}
    own = receive(tmp_path / "alpha.bin", "apex-1.0", 200)
    assert own["frames_ok"] == landers["alpha"]["frames"] > 0


def run_error(*args: str) -> list[str]:
    out = subprocess.run([*CLI, "run", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    return out.stderr.strip().splitlines()


def test_fleet_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    assert run_error("--profile", "apex-1.0", "--profile", "lupex",
                     "--out", f"file:{tmp_path}/same.bin") == [
        f"lunar-hil: error: --out file:{tmp_path}/same.bin: landers apex-1.0 and lupex would "
        "share it; put {lander} in the URL or give each lander its own"]
    assert run_error("--profile", "apex-1.0", "--profile", "lupex", "--board", "gnc=/dev/null") == [
        "lunar-hil: error: --board: a board serves one lander; give each lander its boards "
        "in a --fleet file"]
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("landers:\n  - profile: apex-1.0\n    speed: 3\n")
    assert run_error("--fleet", str(fleet)) == [
        f"lunar-hil: error: --fleet {fleet}: landers[0]: unknown key 'speed' (known: band, "
        "board, fault, id, out, profile, scenario, scid, seed, uplink)"]
    fleet.write_text("landers:\n  - profile: apex-1.0\n    scid: 300\n    band: Ka\n")
    assert run_error("--fleet", str(fleet)) == [
        f"lunar-hil: error: --fleet {fleet}: landers[0]: scid 300 does not fit the Ka band's "
        "frames (0..255)"]
    fleet.write_text("landers:\n  - profile: apex-1.0\n    id: a\n  - profile: lupex\n    id: a\n")
    assert run_error("--fleet", str(fleet)) == [
        f"lunar-hil: error: --fleet {fleet}: landers[1]: lander id 'a' is used twice"]
    assert run_error("--speed", "max") == [
        "lunar-hil: error: run: --profile ID|FILE is required (or --fleet FILE.yaml)"]


def test_decode_scid_picks_one_lander(tmp_path: Path) -> None:
    """A lander flown with SCID 200 decodes with ``decode --scid 200``; with the band's
    own SCID its frames are counted as mismatches, not decoded."""
    fleet = tmp_path / "fleet.yaml"
    out = tmp_path / "a.bin"
    fleet.write_text(f"landers:\n  - profile: apex-1.0\n    id: a\n    scid: 200\n    out: [file:{out}]\n")
    r = subprocess.run([*CLI, "run", "--fleet", str(fleet), "--band", "X", "--speed", "max",
                        "--duration", "10", "--ideal-link", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    frames = json.loads(r.stdout.strip().splitlines()[-1])["frames"]

    def decode(*extra: str) -> dict[str, Any]:
        d = subprocess.run([*CLI, "decode", "--profile", "apex-1.0", "--band", "X", str(out),
                            "--json", *extra], capture_output=True, text=True, timeout=120)
        assert d.returncode == 0, d.stderr
        return dict(json.loads(d.stdout))

    mine = decode("--scid", "200")
    assert frames > 0 and mine["frames_ok"] == frames and mine["scid_mismatches"] == 0
    other = decode()
    assert other["frames_ok"] == 0 and other["scid_mismatches"] == frames
    bad = subprocess.run([*CLI, "decode", "--profile", "apex-1.0", "--band", "X", str(out),
                          "--scid", "1024"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip().endswith("SCID is 0..1023")

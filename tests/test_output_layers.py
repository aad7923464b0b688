"""Output layers for ground software: coded channel, transfer frames, packets.

Yamcs' frame links want one transfer frame per UDP datagram; its TCP packet
link and COSMOS want a CCSDS packet stream. The frames and packets layers give
exactly that, and must agree with what the ground receiver decodes from the
coded channel stream.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import socket
import threading
from pathlib import Path

import pytest

from lunar_hil.emulator.cli import main


def _run(capsys, *args: str) -> dict:
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_frames_and_packets_layers_match_the_decoded_channel(tmp_path: Path, capsys):
    c, f, p, p2 = (tmp_path / n for n in ("c.bin", "f.bin", "p.bin", "p2.bin"))
    summary = _run(capsys, "run", "--profile", "series-2", "--band", "X", "--speed", "max",
                   "--duration", "200", "--json", "--out", f"file:{c}",
                   "--out", f"file:{f}?layer=frames", "--out", f"file:{p}?layer=packets")
    from lunar_hil.emulator.binding import pick_band
    from lunar_hil.profiles.loader import load_profile

    band = pick_band(load_profile("series-2"), "X")
    frames = f.read_bytes()
    assert len(frames) == summary["frames"] * band.frame_length
    # Every frame's FECF checks with an independent CRC (binascii.crc_hqx, 132.0 §4.1.6).
    for i in range(0, len(frames), band.frame_length):
        fr = frames[i : i + band.frame_length]
        assert binascii.crc_hqx(fr[:-2], 0xFFFF) == int.from_bytes(fr[-2:], "big")
    decoded = _run(capsys, "decode", "--profile", "series-2", "--band", "X", str(c), "--json",
                   "--packets-out", str(p2))
    assert decoded["packets"] == summary["packets"]
    assert p.read_bytes() == p2.read_bytes()


def test_udp_frames_layer_sends_one_frame_per_datagram(capsys):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    port = rx.getsockname()[1]
    got: list[bytes] = []

    def receive() -> None:
        try:
            while True:
                got.append(rx.recv(65535))
        except OSError:
            return

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    # Paced (x30, 2 s of wall time): UDP has no backpressure, and at max speed
    # the sender would outrun a Python receiver's socket buffer.
    summary = _run(capsys, "run", "--profile", "hakuto-r-m1", "--band", "S", "--speed", "30",
                   "--duration", "60", "--json", "--out", f"udp://127.0.0.1:{port}?layer=frames")
    asyncio.run(asyncio.sleep(0.5))
    rx.close()
    t.join(5)
    from lunar_hil.emulator.binding import pick_band
    from lunar_hil.profiles.loader import load_profile

    length = pick_band(load_profile("hakuto-r-m1"), "S").frame_length
    assert len(got) == summary["frames"] > 0
    assert {len(d) for d in got} == {length}


@pytest.mark.parametrize("url", ["file:/tmp/x.bin?layer=bits", "udp://127.0.0.1:9?layer=bytes"])
def test_bad_layer_is_a_one_line_error(url, capsys):
    assert main(["run", "--profile", "apex-1.0", "--duration", "1", "--out", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "layer" in err[0]

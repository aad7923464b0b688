"""Shared pieces of the fuzz tests: valid streams built with the codec API, and
mutations of them (bit flips, truncations, insertions, deletions).

The invariant of every fuzz test: a parser facing the outside returns a result
or raises an exception of the project's tree (:class:`EmulatorError`), never a
bare IndexError, ValueError, struct.error, KeyError, ...
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from lunar_hil.emulator.ccsds import (
    AosFramer,
    ChannelCoding,
    ChannelEncoder,
    TmFramer,
    VirtualChannelConfig,
    VirtualChannelMultiplexer,
    build_space_packets,
)
from lunar_hil.emulator.errors import EmulatorError

#: Examples per property. The default keeps the directory well under a minute on
#: one core; a longer hunt is ``LUNAR_HIL_FUZZ_EXAMPLES=5000 pytest tests/fuzz``.
EXAMPLES = int(os.environ.get("LUNAR_HIL_FUZZ_EXAMPLES", "100"))

#: Every fuzz property: no per-example deadline (shared cores, cold caches).
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TM_CODING = ChannelCoding(frame_type="TM", frame_length=223, fecf=True, ocf=True,
                          rs_interleave=1)
AOS_CODING = ChannelCoding(frame_type="AOS", frame_length=442, fecf=True, ocf=False,
                           rs_interleave=2)
TM_CONV_CODING = ChannelCoding(frame_type="TM", frame_length=223, fecf=True, rs_interleave=1,
                               convolutional=True)
UNCODED_CODING = ChannelCoding(frame_type="TM", frame_length=64, fecf=True, rs_interleave=0)
CODINGS = {"tm": TM_CODING, "aos": AOS_CODING, "tm-conv": TM_CONV_CODING,
           "uncoded": UNCODED_CODING}


@contextlib.contextmanager
def ours_only() -> Iterator[None]:
    """Let an EmulatorError pass (a clean refusal); anything else fails the test."""
    with contextlib.suppress(EmulatorError):
        yield


def _packets(n: int, length: int, apid: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, length), dtype=np.uint8)
    return build_space_packets(apid, np.arange(n) % 16384, data)


@cache
def valid_stream(name: str, n_frames: int = 12) -> tuple[bytes, int]:
    """``(channel bytes, packets carried)`` of ``n_frames`` frames on channel ``name``."""
    coding = CODINGS[name]
    if coding.frame_type == "TM":
        framer: Any = TmFramer(77, coding.frame_length, ocf=coding.ocf, fecf=coding.fecf)
        zone = framer.data_field_length
        idle_vcid = 7
    else:
        framer = AosFramer(77, coding.frame_length, ocf=coding.ocf, fecf=coding.fecf)
        zone = framer.packet_zone_length
        idle_vcid = 63
    mux = VirtualChannelMultiplexer(zone, [VirtualChannelConfig(0), VirtualChannelConfig(1)],
                                    idle_vcid=idle_vcid)
    count = max(2, n_frames * zone // 2 // 86)
    mux.push(0, _packets(count, 80, 0x42, 1))
    mux.push(1, _packets(count // 2, 150, 0x43, 2))
    batch = mux.pull(n_frames, flush=True, idle=True)
    ocf = np.full(n_frames, 0x01000000, dtype=np.uint32) if coding.ocf else None
    frames = framer.frame(batch.vcids, batch.first_header_pointers, batch.zones, ocf)
    return ChannelEncoder(coding).encode(frames), count + count // 2


def _flip(data: bytearray, draw: Callable[..., Any]) -> None:
    for _ in range(draw(st.integers(1, 40))):
        bit = draw(st.integers(0, len(data) * 8 - 1))
        data[bit // 8] ^= 0x80 >> (bit % 8)


@st.composite
def mutated(draw: Callable[..., Any], original: bytes) -> bytes:
    """``original`` after a few bit flips, cuts, insertions, deletions or repeats."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            data += draw(st.binary(min_size=1, max_size=64))
            continue
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "repeat", "zero"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip":
            _flip(data, draw)
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=300))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 300))]
        elif op == "repeat":
            span = bytes(data[at : at + draw(st.integers(1, 600))])
            data[at:at] = span
        else:
            stop = at + draw(st.integers(1, 64))
            data[at:stop] = bytes(len(data[at:stop]))
    return bytes(data)


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (taken modulo its length), in order."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@cache
def real_run(band: str, duration_s: str = "2") -> tuple[Any, bytes]:
    """``(profile band, channel bytes)`` of a short apex-1.0 run on ``band``.

    Run in this process through the CLI (ideal link: every second has frames).
    """
    import io
    import tempfile
    from pathlib import Path

    from lunar_hil.emulator import cli
    from lunar_hil.emulator.binding import pick_band
    from lunar_hil.profiles.loader import load_profile

    path = Path(tempfile.mkdtemp(prefix="lunar-hil-fuzz-")) / f"{band}.cadu"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        rc = cli.main(["run", "--profile", "apex-1.0", "--band", band, "--duration", duration_s,
                       "--speed", "max", "--ideal-link", "--out", f"file:{path}"])
    assert rc == 0
    return pick_band(load_profile("apex-1.0"), band), path.read_bytes()

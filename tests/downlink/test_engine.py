"""The downlink engine, sampler and clock, tested directly (not through ``main()``).

Figures are computed here from the profile's band numbers as written in the
YAML (APEX 1.0 X band: 2 Mbit/s, TM frames of 1115 octets, RS interleave 5, a
4-octet ASM), not from ``band_setup()``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from types import TracebackType

import numpy as np
import pytest

from lunar_hil.emulator.binding import (
    band_setup,
    instrument_gates,
    lander_params,
    pick_band,
    telemetry_dictionary,
)
from lunar_hil.emulator.ccsds import scan_space_packets
from lunar_hil.emulator.downlink import (
    Emulator,
    OutputLayer,
    SimClock,
    TelemetrySampler,
    parse_speed,
)
from lunar_hil.emulator.downlink.engine import SinkOutput
from lunar_hil.emulator.errors import ConfigError
from lunar_hil.emulator.sim.scenario import load_scenario
from lunar_hil.emulator.sim.simulation import LanderSimulation
from lunar_hil.profiles.loader import load_profile

# APEX 1.0 X band, from profiles/apex-1.0.yaml.
BIT_RATE_BPS = 2_000_000
FRAME_LENGTH = 1115
RS_INTERLEAVE = 5
CADU_LENGTH = 4 + FRAME_LENGTH + 32 * RS_INTERLEAVE  # ASM + frame + parity = 1279


class MemorySinkForTests:
    """A test stand-in for a driver: keeps every byte written, in order."""

    def __init__(self) -> None:
        self.url = "memory:"
        self.counters: dict[str, int] = {"bytes_out": 0}
        self.chunks: list[bytes] = []
        self.opened = self.closed = False

    async def __aenter__(self) -> MemorySinkForTests:
        self.opened = True
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.closed = True

    async def write(self, data: bytes) -> None:
        self.chunks.append(bytes(data))
        self.counters["bytes_out"] += len(data)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


def make_engine(
    *,
    duration_s: float,
    speed: float | None,
    idle: bool,
    layers: tuple[OutputLayer, ...] = (OutputLayer.CHANNEL,),
    block_periods: int | None = None,
    scenario: str = "surface-nominal",
) -> tuple[Emulator, list[MemorySinkForTests]]:
    profile = load_profile("apex-1.0")
    band = pick_band(profile, "X")
    setup = band_setup(band)
    sim = LanderSimulation(lander_params(profile), load_scenario(scenario), seed=3)
    sampler = TelemetrySampler(telemetry_dictionary(profile, band), setup.vcid_of_apid,
                               epoch_cuc_seconds=2.0e9, seed=3,
                               enabled_by=instrument_gates(profile))
    sinks = [MemorySinkForTests() for _ in layers]
    engine = Emulator(band=setup, sim=sim, sampler=sampler, duration_s=duration_s, speed=speed,
                      idle=idle, outputs=[SinkOutput(s, layer) for s, layer in zip(sinks, layers, strict=True)],
                      block_periods=block_periods)
    return engine, sinks


def run(engine: Emulator) -> dict[str, object]:
    return asyncio.run(asyncio.wait_for(engine.run(), 120))


def test_full_link_frame_count_is_the_bit_rate_over_the_cadu_bits() -> None:
    duration = 10.0
    # 2e6 bit/s / (1279 * 8 bit) = 195.465... CADU/s -> floor(1954.65) over 10 s.
    expected = math.floor(duration * BIT_RATE_BPS / (CADU_LENGTH * 8))
    assert expected == 1954
    engine, (sink,) = make_engine(duration_s=duration, speed=None, idle=True)
    summary = run(engine)
    assert sink.opened and sink.closed
    assert len(sink.data) == expected * CADU_LENGTH
    assert summary["frames"] == expected
    # Every CADU starts with the ASM.
    cadus = np.frombuffer(sink.data, np.uint8).reshape(expected, CADU_LENGTH)
    assert (cadus[:, :4] == np.frombuffer(bytes.fromhex("1ACFFC1D"), np.uint8)).all()


def test_paced_output_equals_max_speed_with_idle_byte_for_byte() -> None:
    """The speed decides when bytes leave, never which bytes (1x paced would
    take the run's duration in wall time; x50 and x200 are paced the same way)."""
    outputs = []
    for speed in (50.0, 200.0, None):
        engine, (sink,) = make_engine(duration_s=20.0, speed=speed, idle=True)
        run(engine)
        outputs.append(sink.data)
    assert len(outputs[0]) == math.floor(20.0 * BIT_RATE_BPS / (CADU_LENGTH * 8)) * CADU_LENGTH
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize("idle", [True, False])
def test_output_is_identical_across_block_sizes(idle: bool) -> None:
    outputs = []
    for block_periods in (1, 7, 1000):
        engine, (sink,) = make_engine(duration_s=30.0, speed=None, idle=idle,
                                      block_periods=block_periods)
        run(engine)
        outputs.append(sink.data)
    assert outputs[0]
    assert outputs[0] == outputs[1] == outputs[2]


def test_max_speed_without_idle_sends_every_sampled_packet() -> None:
    engine, (sink,) = make_engine(duration_s=30.0, speed=None, idle=False,
                                  layers=(OutputLayer.PACKETS,))
    summary = run(engine)
    packets, skipped, _rest = scan_space_packets(sink.data)
    sampled = engine._sampled_packets
    assert sampled > 0 and not skipped
    assert len(packets) == sampled == summary["packets"]


def test_layers_share_one_schedule() -> None:
    """Frames and CADUs of one run describe the same frames, in the same order."""
    engine, (cadu_sink, frame_sink) = make_engine(
        duration_s=5.0, speed=None, idle=True, layers=(OutputLayer.CADU, OutputLayer.FRAMES))
    run(engine)
    n = len(frame_sink.data) // FRAME_LENGTH
    assert n == math.floor(5.0 * BIT_RATE_BPS / (CADU_LENGTH * 8))
    assert len(cadu_sink.data) == n * CADU_LENGTH


# ------------------------------------------------------------------ sampler
def test_packet_times_are_k_over_rate_in_the_half_open_window() -> None:
    times = TelemetrySampler.packet_times(4.0, 0.1, 1.0)
    np.testing.assert_allclose(times, [0.25, 0.5, 0.75])
    assert TelemetrySampler.packet_times(4.0, 1.0, 1.0).size == 0
    assert TelemetrySampler.packet_times(0.0, 0.0, 10.0).size == 0


def test_sampling_in_pieces_gives_the_same_packets_as_at_once() -> None:
    profile = load_profile("apex-1.0")
    band = pick_band(profile, "X")
    setup = band_setup(band)

    def sampled(cuts: list[float]) -> dict[int, bytes]:
        sim = LanderSimulation(lander_params(profile), load_scenario("surface-nominal"), seed=1)
        block = sim.advance(cuts[-1])
        sampler = TelemetrySampler(telemetry_dictionary(profile, band), setup.vcid_of_apid,
                                   epoch_cuc_seconds=2.0e9, seed=1)
        out: dict[int, bytes] = {}
        for t0, t1 in itertools.pairwise(cuts):
            for vcid, (data, _starts, _times) in sampler.sample(block, t0, t1).streams.items():
                out[vcid] = out.get(vcid, b"") + data.tobytes()
        return out

    whole = sampled([0.0, 20.0])
    assert whole and all(whole.values())
    assert sampled([0.0, 3.3, 7.0, 20.0]) == whole


# -------------------------------------------------------------------- clock
@pytest.mark.parametrize(("text", "value"), [("1", 1.0), ("x10", 10.0), ("10x", 10.0),
                                             ("0.5", 0.5), ("max", None), (" MAX ", None)])
def test_parse_speed(text: str, value: float | None) -> None:
    assert parse_speed(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "1e-300", "inf", "nan", "fast"])
def test_parse_speed_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="--speed"):
        parse_speed(text)


def test_clock_lag_is_wall_time_behind_the_sim_schedule() -> None:
    clock = SimClock(10.0)
    clock._wall0 -= 5.0  # 5 wall seconds have passed
    # At x10, sim second 20 was due at wall second 2: 3 s behind.
    assert clock.lag_s(20.0) == pytest.approx(3.0, abs=0.05)
    assert clock.lag_s(100.0) == 0.0  # ahead of schedule: no lag
    assert SimClock(None).lag_s(1e9) == 0.0


def test_uplink_runs_at_max_speed_take_short_steps() -> None:
    """With --uplink at max speed a step is at most one sim minute (a command
    takes effect at the end of the step it arrived in); without, up to an hour."""
    import argparse

    from lunar_hil.emulator.commands.run import build_emulator, register

    def steps(*extra: str) -> float:
        ap = argparse.ArgumentParser()
        register(ap.add_subparsers())
        args = ap.parse_args(["run", "--profile", "apex-1.0", "--band", "X", "--speed", "max",
                              "--duration", "600", "--ideal-link", "--out", "file:/dev/null",
                              *extra])
        args.profile = args.profile[0]
        emu, _rs, _rig, _ = build_emulator(args)
        return emu.block_periods * emu.period_frames / emu.frames_per_second

    assert steps("--uplink", "udp://127.0.0.1:0") <= 60.0 + 1e-3
    assert steps("--uplink", "udp://127.0.0.1:0", "--idle") <= 60.0 + 1e-3
    assert steps() >= 600.0

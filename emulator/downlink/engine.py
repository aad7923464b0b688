"""The asyncio emulator engine.

Downlink, one physical channel (band) per engine::

    LanderSimulation.advance  -> StateBlock
    TelemetrySampler          -> packets per VC (time ordered)
    VirtualChannelMultiplexer -> packet zones + FHPs (idle fill on a full link)
    Framer (TM or AOS)        -> transfer frames (+ OCF/CLCW, FECF)      [FRAMES]
    encode_cadus              -> RS, randomizer, ASM                      [CADU]
    ChannelEncoder.convolve   -> [convolutional r=1/2]
    LinkImpairment            -> bit errors (none with --ideal-link)     [CHANNEL]
    sinks                     -> drivers and/or the embedded ground receiver

What is sent is a function of simulation time only. Time is cut into *mux
periods* of a fixed number of frame slots (``period_frames``, from the band
alone); the multiplexer decides once per period, with the packets sampled
before the period's end: which VC fills which slot, whether a partial zone is
flushed. The engine computes a *block* of whole periods per step (long blocks
at max speed, short ones in real time), so the speed changes how often the
engine wakes up, never a byte of the output.

On a full link (1x, xN, or max with ``--idle``) a period of ``n`` slots
carries exactly ``n`` frames: full zones first, partial zones flushed with an
idle packet when the telemetry does not fill the period (lower latency, same
bit rate), idle frames for what is left. At ``max`` without ``--idle`` only
full zones are sent, and the last partial zones are flushed at the end, so
every sampled packet is sent.

Every sink has its own bounded queue (in the driver); the producer awaits
every sink's ``write`` per block, so a slow sink slows the whole chain
(backpressure) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from ..ccsds import (
    IDLE_APID,
    ChannelEncoder,
    MuxBatch,
    PacketDemultiplexer,
    VirtualChannelMultiplexer,
    apid_of,
    deframe,
    encode_cadus,
    make_framer,
)
from ..errors import LinkError, UnavailableError
from ..sim.simulation import Event, LanderSimulation, StateBlock
from .band import BandSetup
from .clock import SimClock
from .impairment import LinkImpairment
from .layers import OutputLayer
from .sampler import TelemetrySampler

#: Sim event kinds after which the lander sends nothing more: the sim ends a
#: run (``LanderSimulation.finished``) only on a crash.
LANDER_LOST_EVENT_KINDS: Final = frozenset({"crash"})


#: Each VC's packets of one step: (bytes back to back, packet starts, sim times).
Streams = dict[int, tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64],
                          npt.NDArray[np.float64]]]


class Sink(Protocol):
    """What the engine writes to: a driver's byte sink or the embedded receiver."""

    url: str
    counters: dict[str, int]

    async def __aenter__(self) -> Any: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...
    async def write(self, data: bytes) -> None: ...


class SinkOutput(NamedTuple):
    """One output of a run: where the bytes go and which layer it takes."""

    sink: Sink
    layer: OutputLayer = OutputLayer.CHANNEL


@dataclass
class RunStatus:
    """Live figures, read by the live view and summarised at the end."""

    sim_seconds: float = 0.0
    frames: int = 0
    idle_frames: int = 0
    packets: int = 0
    bytes_out: int = 0
    blocks: int = 0
    mux_backlog_bytes: int = 0
    backlog_packets: int = 0
    last_values: dict[str, float] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    finished_reason: str = ""

    def summary(self, wall_seconds: float) -> dict[str, Any]:
        """The ``run --json`` object."""
        return {
            "sim_seconds": round(self.sim_seconds, 6),
            "wall_seconds": round(wall_seconds, 3),
            "frames": self.frames,
            "idle_frames": self.idle_frames,
            "packets": self.packets,
            "bytes_out": self.bytes_out,
            "backlog_bytes": self.mux_backlog_bytes,
            "backlog_packets": self.backlog_packets,
        }


def _concat_batches(batches: Sequence[MuxBatch]) -> MuxBatch:
    if len(batches) == 1:
        return batches[0]
    return MuxBatch(
        vcids=np.concatenate([b.vcids for b in batches]),
        first_header_pointers=np.concatenate([b.first_header_pointers for b in batches]),
        zones=np.concatenate([b.zones for b in batches]),
        idle=np.concatenate([b.idle for b in batches]),
        packets_started=sum(b.packets_started for b in batches),
    )


class Emulator:
    """Runs one band of one lander for one scenario."""

    #: Sim seconds per mux period on a full link: the multiplexer's latency.
    FULL_LINK_PERIOD_S: Final = 0.1
    #: Sim seconds per mux period at max speed without idle frames, where only
    #: the order of full zones across VCs depends on it.
    BULK_PERIOD_S: Final = 60.0
    #: Block bounds at max speed: long enough that per-step overhead vanishes,
    #: short enough that one step's output stays a few MB.
    MAX_SPEED_BLOCK_S: Final = 3600.0
    MAX_SPEED_BLOCK_BYTES: Final = 16 * 1024 * 1024
    MAX_BLOCK_S: Final = 600.0
    #: Wall seconds per step at 1x / xN (about 10 wake-ups per second).
    PACED_STEP_WALL_S: Final = 0.1

    def __init__(
        self,
        *,
        band: BandSetup,
        sim: LanderSimulation,
        sampler: TelemetrySampler,
        duration_s: float,
        speed: float | None,
        idle: bool = False,
        outputs: Sequence[SinkOutput] = (),
        link: LinkImpairment | None = None,
        clcw_word: int | None = None,
        watch_keys: Sequence[str] = (),
        block_periods: int | None = None,
    ) -> None:
        self.band = band
        self.sim = sim
        self.sampler = sampler
        self.duration_s = float(duration_s)
        self.speed = speed
        self.clock = SimClock(speed)
        # At 1x / xN the link is always full. At max speed idle frames are
        # telemetry-free fill, left out unless --idle asks for the full link.
        self.full_link = idle or speed is not None
        self.outputs = list(outputs)
        self.layers = {o.layer for o in self.outputs}
        self._packet_demux = (
            PacketDemultiplexer(vc_count_modulus=band.coding.vc_count_modulus,
                                idle_vcid=band.idle_vcid)
            if OutputLayer.PACKETS in self.layers else None
        )
        self.link = link or LinkImpairment()
        self.status = RunStatus()
        self.watch_keys = list(watch_keys)
        self.framer = make_framer(band.coding, band.scid)
        self.mux = VirtualChannelMultiplexer(
            self.framer.packet_zone_length, band.channels, idle_vcid=band.idle_vcid
        )
        self.encoder = ChannelEncoder(band.coding)
        self.clcw_word = clcw_word
        self.frames_per_second = band.frames_per_second
        period_s = self.FULL_LINK_PERIOD_S if self.full_link else self.BULK_PERIOD_S
        #: Frame slots per mux period: a function of the band and the mode only.
        self.period_frames = max(1, round(period_s * self.frames_per_second))
        self.block_periods = block_periods or self._default_block_periods()
        #: The last frame slot of the run: ``floor(duration * F)``.
        self.end_frame = math.floor(self.duration_s * self.frames_per_second + 1e-9)
        self._sampled_packets = 0
        self.lost_at_s: float | None = None

    # ----------------------------------------------------------- stepping
    def _default_block_periods(self) -> int:
        """Periods per engine step: how often the engine wakes, never what it sends."""
        period_s = self.period_frames / self.frames_per_second
        if self.speed is None:
            # Long blocks amortise per-step overhead; a heavy profile (LUPEX:
            # ~60 kB/s of telemetry) or a full fast link gets shorter ones so a
            # block stays ~16 MB.
            load = max(self.sampler.offered_bytes_per_second(), 1.0)
            if self.full_link:
                load = max(load, self.frames_per_second * self.band.coding.channel_bytes_per_frame)
            block_s = min(self.MAX_SPEED_BLOCK_S, max(60.0, self.MAX_SPEED_BLOCK_BYTES / load))
        else:
            block_s = min(self.MAX_BLOCK_S, self.speed * self.PACED_STEP_WALL_S)
        return max(1, round(block_s / period_s))

    def time_of_frame(self, k: int) -> float:
        """Sim time at which frame slot ``k`` starts."""
        return k / self.frames_per_second

    def step(self, k0: int, k1: int, *, last: bool) -> dict[OutputLayer, bytes]:
        """The output of frame slots ``[k0, k1)`` per layer. Pure CPU work.

        ``k0`` is a multiple of :attr:`period_frames`. With ``last`` the step
        ends the run: packets are sampled up to ``duration_s`` and partial
        zones are flushed. When the lander is lost inside the step, the output
        ends with the mux period in which it was lost.
        """
        t0 = self.time_of_frame(k0)
        t1 = self.duration_s if last else self.time_of_frame(k1)
        block = self.sim.advance(t1)
        self._record(block)
        t_stop = t1
        if self.sim.finished:
            # Nothing is sampled after the moment the lander was lost, and the
            # stream ends with that mux period, wherever the blocks fall.
            lost = [e.t_s for e in block.events if e.kind in LANDER_LOST_EVENT_KINDS]
            t_stop = max(t0, min([t1, *lost]))
            self.lost_at_s = t_stop
            period = self.period_frames
            k1 = min(k1, (math.floor(t_stop * self.frames_per_second / period) + 1) * period)
            last = True
        sampled = self.sampler.sample(block, t0, t_stop)
        self._sampled_packets += sampled.count
        batches = self._schedule(sampled.streams, k0, k1, t_stop, last)
        self.status.sim_seconds = t_stop if self.lost_at_s is not None else t1
        self.status.mux_backlog_bytes = self.mux.pending_bytes()
        self.status.backlog_packets = self.mux.pending_packets()
        self.status.packets = self._sampled_packets - self.status.backlog_packets
        return self._encode([b for b in batches if len(b)])

    def _schedule(
        self,
        streams: Streams,
        k0: int,
        k1: int,
        t_stop: float,
        last: bool,
    ) -> list[MuxBatch]:
        """Run the multiplexer period by period over slots ``[k0, k1)``."""
        pushed = dict.fromkeys(streams, 0)
        batches: list[MuxBatch] = []
        edges = [*range(k0, k1, self.period_frames), k1]
        if len(edges) == 1:
            edges.append(k1)  # an empty last step still pushes and flushes
        for a, b in itertools.pairwise(edges):
            final = last and b == k1
            horizon = t_stop if final else min(t_stop, self.time_of_frame(b))
            for vcid, (data, starts, times) in streams.items():
                i0 = pushed[vcid]
                # Packets sampled before the period ends are available to it.
                i1 = int(np.searchsorted(times, horizon, side="left")) if not final else times.size
                if i1 > i0:
                    end = int(starts[i1]) if i1 < starts.size else data.size
                    self.mux.push_stream(vcid, data[starts[i0] : end], starts[i0:i1] - starts[i0])
                    pushed[vcid] = i1
            if self.full_link:
                n = b - a
                flush = final or self.mux.full_frames_available() < n
                batches.append(self.mux.pull(n, flush=flush, idle=True))
            else:
                while True:
                    batch = self.mux.pull(4096, flush=final, idle=False)
                    if not len(batch):
                        break
                    batches.append(batch)
        return batches

    def _encode(self, batches: list[MuxBatch]) -> dict[OutputLayer, bytes]:
        """Frame, code and impair the step's zones; the bytes of every layer asked for."""
        out = dict.fromkeys(self.layers, b"")
        if not batches:
            return out
        batch = _concat_batches(batches)
        n = len(batch)
        ocf = np.full(n, self.clcw_word or 0, dtype=np.uint32) if self.band.coding.ocf else None
        frames = self.framer.frame(batch.vcids, batch.first_header_pointers, batch.zones, ocf)
        self.status.frames += n
        self.status.idle_frames += int(np.count_nonzero(batch.idle))
        if OutputLayer.FRAMES in self.layers:
            out[OutputLayer.FRAMES] = frames.tobytes()
        if self._packet_demux is not None:
            out[OutputLayer.PACKETS] = b"".join(self._packets_of(frames))
        cadus = encode_cadus(frames, self.band.coding)
        channel = self.link.apply(self.encoder.convolve(cadus))
        self.status.bytes_out += len(channel)
        out[OutputLayer.CHANNEL] = channel
        if OutputLayer.CADU in self.layers:
            # Without a convolutional code the CADUs are the channel stream.
            out[OutputLayer.CADU] = cadus.tobytes() if self.band.coding.convolutional else channel
        return out

    def _packets_of(self, frames: npt.NDArray[np.uint8]) -> list[bytes]:
        """Complete telemetry packets of error-free frames (the packets layer)."""
        assert self._packet_demux is not None
        d = deframe(frames, self.band.coding)
        got = self._packet_demux.feed(d.vcid, d.vc_count, d.first_header_pointer, d.packet_zones)
        return [p for _vc, p in got if apid_of(p) != IDLE_APID]

    def _record(self, block: StateBlock) -> None:
        if block.t.size:
            for k in self.watch_keys:
                v = block.values.get(k)
                if v is not None and v.size:
                    self.status.last_values[k] = float(v[-1])
        if block.events:
            self.status.events.extend(block.events)
            del self.status.events[:-50]

    # -------------------------------------------------------------- async
    async def run(self) -> dict[str, Any]:
        """Run to the end of the duration (or the lander's end); return the summary.

        The sinks are opened first, all of them, in one exit stack: a sink that
        cannot be opened raises :class:`UnavailableError` before any byte is
        sent, and every sink opened so far is closed again.
        """
        wall0 = time.monotonic()
        async with contextlib.AsyncExitStack() as stack:
            for output in self.outputs:
                try:
                    await stack.enter_async_context(output.sink)
                except LinkError as exc:
                    raise UnavailableError(str(exc)) from exc
            await self._produce()
        return self.status.summary(time.monotonic() - wall0)

    async def _produce(self) -> None:
        self.clock.restart()
        k = 0
        stride = self.block_periods * self.period_frames
        while True:
            k1 = min(self.end_frame, k + stride)
            last = k1 >= self.end_frame
            data = self.step(k, k1, last=last)
            if self.lost_at_s is not None:
                self.status.finished_reason = "lander lost"
                last = True
            await self._fan_out(data)
            await self.clock.wait_until(self.status.sim_seconds)
            self.status.blocks += 1
            if last:
                return
            k = k1

    async def _fan_out(self, data: dict[OutputLayer, bytes]) -> None:
        writes = [o.sink.write(data[o.layer]) for o in self.outputs if data[o.layer]]
        if len(writes) == 1:
            await writes[0]
        elif writes:
            await asyncio.gather(*writes)

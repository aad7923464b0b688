"""The asyncio emulator engine.

Downlink, one physical channel (band) per engine::

    LanderSimulation.advance  -> StateBlock
    TelemetrySampler          -> packets per VC (time ordered)
    VirtualChannelMultiplexer -> packet zones + FHPs (idle fill at 1x / xN)
    TmFramer / AosFramer      -> transfer frames (+ OCF/CLCW, FECF)
    ChannelEncoder            -> RS, randomizer, ASM, [convolutional]
    LinkImpairment            -> bit errors (none with --ideal-link)
    sinks                     -> drivers and/or the embedded ground receiver

The producer runs one *block* of simulation time per step. Every sink has its
own bounded queue; the producer awaits room in all of them, so a slow sink
slows the whole chain (backpressure) instead of growing memory.

At 1x and xN the link is always full: a block of ``dt`` sim seconds carries
exactly ``floor(t1 F) - floor(t0 F)`` frames, ``F = bit_rate / CADU bits``,
with partial zones flushed (idle packet fill) and idle frames when telemetry
is short. At ``max`` only full frames are sent (idle frames with ``--idle``),
and the last partial zone is flushed at the end.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..ccsds.aos import AosFramer, decode_aos_frames
from ..ccsds.coding import ChannelEncoder
from ..ccsds.demux import PacketDemultiplexer
from ..ccsds.mux import VirtualChannelMultiplexer
from ..ccsds.packets import IDLE_APID
from ..ccsds.tm import TmFramer, decode_tm_frames
from ..sim.simulation import Event, LanderSimulation, StateBlock
from .band import BandSetup
from .clock import SimClock
from .impairment import LinkImpairment
from .sampler import TelemetrySampler


class Sink(Protocol):
    url: str
    counters: dict[str, int]

    async def open(self) -> None: ...
    async def write(self, data: bytes) -> None: ...
    async def close(self) -> None: ...


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
        """The ``run --json`` object (keys fixed by DESIGN.md)."""
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


#: What a sink receives: the coded channel stream (default, what a radio
#: carries), the transfer frames (a ground station's frame output: Yamcs frame
#: links), or the complete space packets (Yamcs/COSMOS packet links).
LAYERS = ("channel", "frames", "packets")


class Emulator:
    """Runs one band of one lander for one scenario."""

    QUEUE_DEPTH = 8
    #: Sim events after which the lander sends nothing more.
    LOSS_EVENTS = frozenset({"crash", "dead", "lander_lost"})
    #: Sim seconds per step at max speed: large enough that per-step overhead
    #: vanishes, small enough that one step's packets stay a few MB.
    MAX_SPEED_BLOCK_S = 3600.0
    MAX_SPEED_BLOCK_BYTES = 16 * 1024 * 1024
    MAX_BLOCK_S = 600.0

    def __init__(
        self,
        *,
        band: BandSetup,
        sim: LanderSimulation,
        sampler: TelemetrySampler,
        duration_s: float,
        speed: float | None,
        idle: bool = False,
        sinks: Sequence[Sink] = (),
        layers: Sequence[str] | None = None,
        link: LinkImpairment | None = None,
        clcw_word: int | None = None,
        watch_keys: Sequence[str] = (),
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
        self.sinks = list(sinks)
        self.layers = list(layers) if layers is not None else ["channel"] * len(self.sinks)
        if len(self.layers) != len(self.sinks) or not set(self.layers) <= set(LAYERS):
            raise ValueError(f"layers must be one of {LAYERS} per sink, got {self.layers}")
        self._want_frames = "frames" in self.layers
        self._packet_demux = (
            PacketDemultiplexer(vc_count_modulus=band.coding.vc_count_modulus,
                                idle_vcid=band.idle_vcid)
            if "packets" in self.layers else None
        )
        self._frames_out: list[bytes] = []
        self._packets_out: list[bytes] = []
        self.link = link or LinkImpairment()
        self.status = RunStatus()
        self.watch_keys = list(watch_keys)
        coding = band.coding
        if coding.frame_type == "TM":
            self.framer: TmFramer | AosFramer = TmFramer(
                band.scid, coding.frame_length, ocf=coding.ocf, fecf=coding.fecf
            )
            zone = self.framer.data_field_length
        else:
            self.framer = AosFramer(
                band.scid, coding.frame_length, ocf=coding.ocf, fecf=coding.fecf,
                insert_zone=coding.insert_zone,
            )
            zone = self.framer.data_field_length - 2  # minus the M_PDU header
        self.mux = VirtualChannelMultiplexer(zone, band.channels, idle_vcid=band.idle_vcid)
        self.encoder = ChannelEncoder(coding)
        self.clcw_word = clcw_word
        self._queues: list[asyncio.Queue[bytes | None]] = []
        self._frames_sent_schedule = 0
        self._sampled_packets = 0
        self.lost_at_s: float | None = None

    # ----------------------------------------------------------- stepping
    def _block_length(self) -> float:
        if self.speed is None:
            # Long blocks amortise per-step overhead; a science-heavy profile
            # (LUPEX: ~60 kB/s) gets shorter ones so a block stays ~16 MB.
            load = max(self.sampler.offered_bytes_per_second(), 1.0)
            return min(self.MAX_SPEED_BLOCK_S, max(60.0, self.MAX_SPEED_BLOCK_BYTES / load))
        # ~10 steps per wall second, at least one frame time, bounded.
        return min(self.MAX_BLOCK_S, max(self.speed * 0.1, 1.0 / self.band.frames_per_second))

    def _frames_due(self, t1: float) -> int:
        total = math.floor(t1 * self.band.frames_per_second + 1e-9)
        due = total - self._frames_sent_schedule
        self._frames_sent_schedule = total
        return max(0, due)

    def step(self, t0: float, t1: float, *, last: bool) -> dict[str, bytes]:
        """Produce the output of sim time ``[t0, t1)`` per layer. Pure CPU work."""
        block = self.sim.advance(t1)
        self._record(block)
        t_end = t1
        if self.sim.finished:
            # The lander is gone: nothing is sampled after the moment it was
            # lost, wherever the block boundaries fall.
            lost = [e.t_s for e in block.events if e.kind in self.LOSS_EVENTS]
            t_end = max(t0, min([t1, *lost]))
            self.lost_at_s = t_end if self.lost_at_s is None else min(self.lost_at_s, t_end)
        sampled = self.sampler.sample(block, t0, t_end)
        for vcid, (stream, starts) in sampled.streams.items():
            self.mux.push_stream(vcid, stream, starts)
        self._sampled_packets += sampled.count
        chunks: list[bytes] = []
        if self.full_link:
            due = self._frames_due(t1)
            while due > 0:
                n = min(due, 4096)
                # Spare capacity on a full link: flush partial zones rather
                # than sending idle frames (lower latency, same bit rate).
                flush = last or self.mux.full_frames_available() < n
                chunks.append(self._frame_and_code(self.mux.pull(n, flush=flush, idle=True)))
                due -= n
        if not self.full_link:
            # Max speed without --idle: full frames only, and the end flushes
            # what is left, so every sampled packet is sent. A full link never
            # exceeds its bit rate: what did not fit stays on board (backlog).
            while True:
                batch = self.mux.pull(4096, flush=last, idle=False)
                if batch.vcids.size == 0:
                    break
                chunks.append(self._frame_and_code(batch))
        self.status.sim_seconds = t1
        self.status.mux_backlog_bytes = self.mux.pending_bytes()
        self.status.backlog_packets = self.mux.pending_packets()
        self.status.packets = self._sampled_packets - self.status.backlog_packets
        data = self.link.apply(b"".join(chunks))
        self.status.bytes_out += len(data)
        out = {"channel": data}
        if self._want_frames:
            out["frames"] = b"".join(self._frames_out)
            self._frames_out.clear()
        if self._packet_demux is not None:
            out["packets"] = b"".join(self._packets_out)
            self._packets_out.clear()
        return out

    def _frame_and_code(self, batch: Any) -> bytes:
        n = batch.vcids.shape[0]
        if n == 0:
            return b""
        ocf = None
        if self.band.coding.ocf:
            ocf = np.full(n, self.clcw_word or 0, dtype=np.uint32)
        frames = self.framer.frame(batch.vcids, batch.first_header_pointers, batch.zones, ocf)
        if self._want_frames:
            self._frames_out.append(frames.tobytes())
        if self._packet_demux is not None:
            self._packets_out.extend(self._packets_of(frames))
        self.status.frames += n
        self.status.idle_frames += int(np.count_nonzero(batch.idle))
        return self.encoder.encode(frames)

    def _packets_of(self, frames: Any) -> list[bytes]:
        """Complete telemetry packets of error-free frames (the packets layer)."""
        coding = self.band.coding
        if coding.frame_type == "TM":
            b = decode_tm_frames(frames, fecf=coding.fecf)
            zones = b.data_fields
        else:
            a = decode_aos_frames(frames, ocf=coding.ocf, fecf=coding.fecf,
                                  insert_zone=coding.insert_zone)
            b, zones = a, a.packet_zones  # type: ignore[assignment]
        assert self._packet_demux is not None
        got = self._packet_demux.feed(b.vcid, b.vc_count, b.first_header_pointer, zones)
        return [p for _vc, p in got if (((p[0] & 0x07) << 8) | p[1]) != IDLE_APID]

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
    async def _drain(self, sink: Sink, queue: asyncio.Queue[bytes | None]) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            await sink.write(item)

    async def run(self) -> dict[str, Any]:
        """Run to the end of the duration (or the lander's end); return the summary."""
        wall0 = time.monotonic()
        for sink in self.sinks:
            await sink.open()
        self._queues = [asyncio.Queue(maxsize=self.QUEUE_DEPTH) for _ in self.sinks]
        drains = [
            asyncio.create_task(self._drain(s, q)) for s, q in zip(self.sinks, self._queues, strict=True)
        ]
        try:
            self.clock.restart()
            t = 0.0
            blen = self._block_length()
            while t < self.duration_s - 1e-9:
                t1 = min(self.duration_s, t + blen)
                last = t1 >= self.duration_s - 1e-9
                data = self.step(t, t1, last=last)
                if self.sim.finished:
                    # The lander is gone: flush what it sent and stop here.
                    self.status.finished_reason = "lander lost"
                    if not last:
                        tail = self.step(t1, t1, last=True)
                        data = {k: v + tail.get(k, b"") for k, v in data.items()}
                        last = True
                await self._fan_out(data)
                for d in drains:
                    if d.done():
                        d.result()  # surface a sink failure now
                await self.clock.wait_until(t1)
                t = t1
                self.status.blocks += 1
                if last:
                    break
            for q in self._queues:
                await q.put(None)
            await asyncio.gather(*drains)
        finally:
            for d in drains:
                if not d.done():
                    d.cancel()
            for sink in self.sinks:
                await sink.close()
        return self.status.summary(time.monotonic() - wall0)

    async def _fan_out(self, data: dict[str, bytes]) -> None:
        puts = [q.put(data[layer]) for q, layer in zip(self._queues, self.layers, strict=True)
                if data.get(layer)]
        if puts:
            await asyncio.gather(*puts)

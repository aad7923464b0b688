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
from collections.abc import Callable, Mapping, Sequence
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
    """One output of a run: where the bytes go, which layer it takes, and with
    ``band`` set, the one band it takes (it gets nothing while another is on)."""

    sink: Sink
    layer: OutputLayer = OutputLayer.CHANNEL
    band: str | None = None


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


@dataclass(frozen=True)
class BandEvent:
    """A band event at sim time ``t_s``: switch to ``band`` (a scenario step,
    a telecommand), or with ``fails`` set, the ``band`` transmitter fails for
    ``fails`` seconds (``inf``: for good) and the lander falls back to S."""

    t_s: float
    band: str
    reason: str = "scenario"
    fails: float | None = None


def sink_params(setup: BandSetup, layer: OutputLayer, speed: float | None,
                scheme: str = "") -> dict[str, Any]:
    """What a sink of ``layer`` needs to know about the band: the unit of its
    stream (whole CADUs, frames; None for packets), the symbol rate of what it
    takes, whether it applies the convolutional code itself (``iq:`` on a
    convolutional band takes the CADUs), the pace at this speed, the frame
    type (MQTT topics) and the coding (the embedded receiver)."""
    convolutional = False
    if scheme == "iq" and layer == OutputLayer.CHANNEL and setup.coding.convolutional:
        # The modulator applies NRZ-M to the data bits and then the
        # convolutional code itself (gr-satellites' order), so it takes the CADUs.
        layer, convolutional = OutputLayer.CADU, True
    unit = layer.unit_bytes(setup.coding)
    symbol_rate = None if unit is None else round(unit * 8 * setup.frames_per_second)
    if convolutional:
        symbol_rate = round(setup.channel_symbol_rate)
    # Datagrams leave evenly at the link's rate times the speed (an upper
    # bound for packets), not in one burst per engine step.
    pace = (None if speed is None
            else setup.coding.channel_bytes_per_frame * setup.frames_per_second * speed)
    return {"frame_bytes": unit, "symbol_rate": symbol_rate, "pace_bytes_per_s": pace,
            "frame_type": setup.coding.frame_type, "convolutional": convolutional,
            "layer": layer, "coding": setup.coding, "band": setup.name}


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
        bands: Mapping[str, BandSetup] | None = None,
        band_events: Sequence[BandEvent] = (),
        max_block_s: float | None = None,
    ) -> None:
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
        self._block_periods_arg = block_periods
        #: Longest step in sim seconds (None: the defaults). A run with an uplink
        #: at max speed bounds it, since a command takes effect at a step's end.
        self.max_block_s = max_block_s
        self.link = link or LinkImpairment()
        self.status = RunStatus()
        self.watch_keys = list(watch_keys)
        self.clcw_word = clcw_word
        #: Every band the lander can switch to, by name (the start band at least).
        self.bands: dict[str, BandSetup] = {band.name: band, **(dict(bands or {}))}
        self.bands[band.name] = band
        #: Pending band events (switches and transmitter faults), in time order.
        self._band_events: list[BandEvent] = sorted(band_events, key=lambda e: e.t_s)
        self._failed_bands: dict[str, float] = {}  # band -> sim time it works again
        #: What happened to the band: one entry per switch or refused request.
        self.band_log: list[dict[str, Any]] = []
        #: Called with the new band after a switch (sampler VC map, rig VCs).
        self.band_listeners: list[Callable[[BandSetup], None]] = []
        self._coders: dict[str, tuple[Any, VirtualChannelMultiplexer, ChannelEncoder]] = {}
        #: Sim time of the current band's frame slot 0 (0 until a switch).
        self._t_origin = 0.0
        #: Sim time up to which packets were sampled (the next step samples from it).
        self._sample_from = 0.0
        self._enter_band(band)
        self._sampled_packets = 0
        self.lost_at_s: float | None = None

    # -------------------------------------------------------------- bands
    def _enter_band(self, band: BandSetup) -> None:
        """Make ``band`` the one the engine transmits on from ``_t_origin``.

        A band's framer (its frame counters), multiplexer and encoder are made
        once and kept, so switching back continues the counters of that
        physical channel.
        """
        self.band = band
        if band.name not in self._coders:
            framer = make_framer(band.coding, band.scid)
            mux = VirtualChannelMultiplexer(framer.packet_zone_length, band.channels,
                                            idle_vcid=band.idle_vcid)
            self._coders[band.name] = (framer, mux, ChannelEncoder(band.coding))
        self.framer, self.mux, self.encoder = self._coders[band.name]
        self._packet_demux = (
            PacketDemultiplexer(vc_count_modulus=band.coding.vc_count_modulus,
                                idle_vcid=band.idle_vcid)
            if OutputLayer.PACKETS in self.layers else None
        )
        self.frames_per_second = band.frames_per_second
        period_s = self.FULL_LINK_PERIOD_S if self.full_link else self.BULK_PERIOD_S
        #: Frame slots per mux period: a function of the band and the mode only.
        self.period_frames = max(1, round(period_s * self.frames_per_second))
        self.block_periods = self._block_periods_arg or self._default_block_periods()
        #: The last frame slot of the run on this band: ``floor((duration - origin) * F)``.
        self.end_frame = max(0, math.floor((self.duration_s - self._t_origin)
                                           * self.frames_per_second + 1e-9))

    def request_band(self, t_s: float, name: str, reason: str = "telecommand") -> None:
        """Switch to band ``name`` at sim time ``t_s`` (at the next mux-period
        boundary the engine reaches after it). A name the profile does not
        have is refused and logged, never an error in a running link."""
        self._band_events.append(BandEvent(float(t_s), name, reason))
        self._band_events.sort(key=lambda e: e.t_s)

    def _due_band(self, t_now: float) -> BandEvent | None:
        """Apply the band events due by ``t_now``; the switch to make now, if any."""
        target: BandEvent | None = None
        current = self.band.name
        while self._band_events and self._band_events[0].t_s <= t_now:
            ev = self._band_events.pop(0)
            for name, until in list(self._failed_bands.items()):
                if until <= ev.t_s:
                    del self._failed_bands[name]
            if ev.fails is not None:
                self._failed_bands[ev.band] = ev.t_s + ev.fails
                self.band_log.append({"t_s": round(ev.t_s, 6), "event": "transmitter_fault",
                                      "band": ev.band, "reason": ev.reason})
                if ev.band == current:
                    fallback = self._fallback_band()
                    if fallback is not None:
                        current = fallback
                        target = BandEvent(ev.t_s, fallback, f"{ev.reason}: {ev.band} failed")
                continue
            refused = None
            if ev.band not in self.bands:
                refused = f"no band {ev.band} (has: {', '.join(self.bands)})"
            elif ev.band in self._failed_bands:
                refused = f"the {ev.band} transmitter has failed"
            if refused is not None:
                self.band_log.append({"t_s": round(ev.t_s, 6), "event": "refused",
                                      "band": ev.band, "reason": f"{ev.reason}: {refused}"})
                continue
            if ev.band != current:
                current = ev.band
                target = ev
        if target is not None and target.band == self.band.name:
            return None
        return target

    def _fallback_band(self) -> str | None:
        """The band a lander falls back to when its transmitter fails: S (the
        low-rate, wide-beam safe band), else the first working one."""
        working = [n for n in self.bands if n not in self._failed_bands and n != self.band.name]
        if "S" in working:
            return "S"
        return working[0] if working else None

    def _next_band_event_t(self) -> float | None:
        return self._band_events[0].t_s if self._band_events else None

    def _switch_band(self, k: int, switch: BandEvent) -> dict[OutputLayer, bytes]:
        """Hand over from the current band to ``switch.band`` at frame slot ``k``.

        The packets no byte of which was sent move to the new band's VCs (by
        APID); the packets already started on the old band are completed
        there first (their tails, flushed with an idle packet), which takes a
        few more frame slots of the old band. The new band's slot 0 starts
        after them. Returns the old band's last output.
        """
        old = self.band
        handed = [(c.vcid, *self.mux.take_unsent(c.vcid)) for c in self.mux.channels]
        tails = self._tail_batches(k)
        data = self._encode(tails)
        m = sum(len(b) for b in tails)
        self._t_origin = self.time_of_frame(k + m)
        self._leave_band()
        self._enter_band(self.bands[switch.band])
        for vcid, pkts, starts in handed:
            if starts.size:
                self._hand_over(old, vcid, pkts, starts)
        self._note_backlog()
        self.band_log.append({"t_s": round(self._t_origin, 6), "event": "switch",
                              "from": old.name, "to": self.band.name, "reason": switch.reason,
                              "handed_over_packets": int(sum(s.size for _v, _p, s in handed))})
        for listener in self.band_listeners:
            listener(self.band)
        return data

    def _tail_batches(self, k: int) -> list[MuxBatch]:
        """The old band's last frames: the tails of packets it already started."""
        batch = self.mux.pull(1 << 30, flush=True, idle=False)
        return [batch] if len(batch) else []

    def _leave_band(self) -> None:
        """Hook: the current band stops transmitting (the linked engine adds up its outages)."""

    def _hand_over(self, old: BandSetup, vcid: int, data: npt.NDArray[np.uint8],
                   starts: npt.NDArray[np.int64]) -> None:
        """Queue packets from the old band's VC ``vcid`` on the new band, each on
        the VC its APID has there (the new band's first VC for one it lacks)."""
        apids = ((data[starts].astype(np.int64) & 0x07) << 8) | data[starts + 1]
        default = self.band.channels[0].vcid if self.band.channels else self.band.idle_vcid
        target = np.array([self.band.vcid_of_apid.get(int(a), default) for a in apids.tolist()],
                          dtype=np.int64)
        target[apids == IDLE_APID] = -1
        for v in np.unique(target[target >= 0]).tolist():
            self._push_selected(v, data, starts, target == v)

    def _push_selected(self, vcid: int, data: npt.NDArray[np.uint8],
                       starts: npt.NDArray[np.int64], keep: npt.NDArray[np.bool_]) -> None:
        """Push the packets of ``data`` selected by ``keep`` on ``vcid``, in order."""
        lengths = np.diff(np.append(starts, data.size))
        if keep.all():
            self.mux.push_stream(vcid, data, starts)
            return
        sel_starts, sel_len = starts[keep], lengths[keep]
        offsets = np.concatenate([[0], np.cumsum(sel_len)[:-1]]).astype(np.int64)
        idx = np.repeat(sel_starts - offsets, sel_len) + np.arange(int(sel_len.sum()))
        self.mux.push_stream(vcid, data[idx], offsets)

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
        if self.max_block_s is not None:
            block_s = min(block_s, self.max_block_s)
        return max(1, round(block_s / period_s))

    def time_of_frame(self, k: int) -> float:
        """Sim time at which frame slot ``k`` (of the current band) starts."""
        return self._t_origin + k / self.frames_per_second

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
            k1 = min(k1, (math.floor((t_stop - self._t_origin) * self.frames_per_second / period)
                          + 1) * period)
            last = True
        # From where the last step stopped sampling: after a band switch the
        # old band's last frames took a few slots past it.
        sampled = self.sampler.sample(block, self._sample_from, t_stop)
        self._sample_from = t_stop
        self._sampled_packets += sampled.count
        batches = self._schedule(sampled.streams, k0, k1, t_stop, last)
        self.status.sim_seconds = t_stop if self.lost_at_s is not None else t1
        self._note_backlog()
        self.status.packets = self._sampled_packets - self.status.backlog_packets
        return self._encode([b for b in batches if len(b)])

    def _note_backlog(self) -> None:
        """What waits in the multiplexer (the live view and the summary)."""
        self.status.mux_backlog_bytes = self.mux.pending_bytes()
        self.status.backlog_packets = self.mux.pending_packets()

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
        summary = self.status.summary(time.monotonic() - wall0)
        summary["band"] = self.band.name
        if self.band_log:
            summary["band_events"] = list(self.band_log)
        return summary

    async def _produce(self) -> None:
        self.clock.restart()
        k = 0
        while True:
            switch = self._due_band(self.time_of_frame(k))
            if switch is not None and k < self.end_frame:
                await self._fan_out(self._switch_band(k, switch))
                await self._retune_sinks()
                k = 0
            stride = self.block_periods * self.period_frames
            k1 = min(self.end_frame, k + stride)
            t_next = self._next_band_event_t()
            if t_next is not None and t_next < self.time_of_frame(k1):
                # End the step at the first frame slot at or after the event
                # (the last mux period of the step is then a short one).
                ks = math.ceil((t_next - self._t_origin) * self.frames_per_second - 1e-9)
                k1 = min(k1, max(ks, k + 1))
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

    async def _retune_sinks(self) -> None:
        """Tell every sink that can follow a band switch about the new band
        (its unit, rate and coding); the others carry bytes and need nothing."""
        for output in self.outputs:
            retune = getattr(output.sink, "retune", None)
            if retune is not None and output.band is None:
                await retune(**sink_params(self.band, output.layer, self.speed))

    async def _fan_out(self, data: dict[OutputLayer, bytes]) -> None:
        band = self.band.name
        writes = [o.sink.write(data[o.layer]) for o in self.outputs
                  if data[o.layer] and (o.band is None or o.band == band)]
        if len(writes) == 1:
            await writes[0]
        elif writes:
            await asyncio.gather(*writes)

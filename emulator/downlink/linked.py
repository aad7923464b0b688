"""The downlink through the link model: outages, the on-board store, channel
errors from the link budget, CLCW flags and light time.

:class:`LinkedEmulator` is the :class:`~.engine.Emulator` with a
:class:`~lunar_hil.emulator.links.LinkSchedule` deciding, per mux period (a
function of sim time only, so the output still does not depend on the speed):

- **Outage** (no path delivers: no station sees the lander or a relay that
  sees it, or the margin is below the ground receiver's lock threshold): no
  frame is made for the period, so nothing reaches the ground. The packets
  sampled in it go to the :class:`OnboardStore` (finite; what does not fit is
  counted as overflow). Packets already in the multiplexer wait there.
- **Link back**: live telemetry first; then the store plays back, oldest
  first, on its own virtual channel (the recorder playback VC, lowest
  priority), in the room the live telemetry leaves in each period (at max
  speed without idle frames: all at once).
- **Errors**: the period's channel BER from the budget (random, plus a fifth
  of it in Gilbert-Elliott bursts) on the coded stream; ``--ber`` replaces it.
- **CLCW** (CCSDS 232.0 4.2.1.8/9): No Bit Lock is set in the OCF while the
  margin is below 0 dB (the lander's receiver is assumed to see the same
  margin on the uplink); No RF Available when no path is up.
- **Light time**: at 1x and xN a block leaves the sinks one light time after
  the sim time at which it was made.
"""

from __future__ import annotations

import copy
import itertools
from collections import deque
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..ccsds.coding import encode_cadus
from ..ccsds.mux import MuxBatch, VirtualChannelConfig
from ..links.budget import BIT_LOCK_LOSS_MARGIN_DB
from ..links.channel import GilbertElliott, LinkChannel
from ..links.schedule import LinkSchedule, LinkState
from .band import BandSetup, playback_vcid
from .engine import Emulator, _concat_batches
from .layers import OutputLayer

__all__ = ["DEFAULT_STORE_BYTES", "LinkedEmulator", "OnboardStore", "linked_emulator", "playback_vcid"]

#: On-board store size (assumed: a 64 MiB telemetry partition of the flight
#: computer's mass memory; the seeds give no figure).
DEFAULT_STORE_BYTES: Final = 64 * 1024 * 1024
#: Share of the budget's BER that arrives in bursts (Viterbi output, fades).
BURST_SHARE: Final = 0.2
NO_RF_AVAILABLE_BIT: Final = 1 << 15  # CCSDS 232.0 4.2.1.8 (CLCW bit 16)
NO_BIT_LOCK_BIT: Final = 1 << 14  # CCSDS 232.0 4.2.1.9 (CLCW bit 17)

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


class OnboardStore:
    """A FIFO of whole space packets, bounded in bytes.

    Packets arrive as chunks laid back to back (``data``, packet ``starts``),
    the way the sampler makes them; a packet that does not fit is counted as
    overflow and dropped (the newest is lost, the store keeps its oldest).
    """

    def __init__(self, capacity_bytes: int = DEFAULT_STORE_BYTES) -> None:
        self.capacity_bytes = int(capacity_bytes)
        self._chunks: deque[tuple[U8, I64]] = deque()
        self.bytes = 0
        self.packets = 0
        self.stored_packets = 0
        self.played_back_packets = 0
        self.overflow_packets = 0
        self.overflow_bytes = 0

    def put(self, data: U8, starts: I64) -> None:
        """Keep the packets of one chunk that fit."""
        if not starts.size:
            return
        ends = np.append(starts[1:], data.size)
        fits = int(np.searchsorted(ends, self.capacity_bytes - self.bytes, side="right"))
        if fits < starts.size:
            self.overflow_packets += int(starts.size - fits)
            self.overflow_bytes += int(data.size - (ends[fits - 1] if fits else 0))
        if fits:
            end = int(ends[fits - 1])
            self._chunks.append((data[:end].copy(), starts[:fits].copy()))
            self.bytes += end
            self.packets += fits
            self.stored_packets += fits

    def take(self, max_bytes: int | None) -> tuple[U8, I64] | None:
        """The oldest whole packets up to ``max_bytes`` (all with None), removed."""
        out_d: list[U8] = []
        out_s: list[I64] = []
        size = 0
        while self._chunks:
            data, starts = self._chunks[0]
            room = data.size if max_bytes is None else max_bytes - size
            ends = np.append(starts[1:], data.size)
            n = int(np.searchsorted(ends, room, side="right"))
            if n == 0:
                break
            end = int(ends[n - 1])
            out_s.append(starts[:n] + size)
            out_d.append(data[:end])
            size += end
            if n == starts.size:
                self._chunks.popleft()
            else:
                self._chunks[0] = (data[end:], starts[n:] - end)
                break
        if not out_d:
            return None
        count = sum(s.size for s in out_s)
        self.bytes -= size
        self.packets -= count
        self.played_back_packets += count
        return np.concatenate(out_d), np.concatenate(out_s)

    def counters(self) -> dict[str, int]:
        return {"store_packets": self.packets, "store_bytes": self.bytes,
                "stored_packets": self.stored_packets,
                "played_back_packets": self.played_back_packets,
                "overflow_packets": self.overflow_packets, "overflow_bytes": self.overflow_bytes}


def with_playback_channel(band: BandSetup) -> tuple[BandSetup, int]:
    """The band with the playback VC added at the lowest priority."""
    import dataclasses

    vcid = playback_vcid(band)
    lowest = min((c.priority for c in band.channels), default=0) - 1
    channels = (*band.channels, VirtualChannelConfig(vcid=vcid, priority=lowest))
    return dataclasses.replace(band, channels=channels), vcid


class LinkedEmulator(Emulator):
    """The engine with the link model in the loop (see the module docstring)."""

    def __init__(self, *, schedule: LinkSchedule, band_name: str, seed: int = 0,
                 ber_override: float | None = None, store_bytes: int = DEFAULT_STORE_BYTES,
                 **kwargs: Any) -> None:
        band, self.playback_vcid = with_playback_channel(kwargs.pop("band"))
        super().__init__(band=band, **kwargs)
        self.schedule = schedule
        self.band_name = band_name
        # A copy: the schedule is cached and shared between runs in one process.
        tl = copy.deepcopy(schedule.timeline(band_name))
        self._tl = tl
        self._deliver = ((tl.path_index >= 0) & ~tl.relay_store
                         & (tl.margin_db >= BIT_LOCK_LOSS_MARGIN_DB))
        self.store = OnboardStore(store_bytes)
        self.channel = LinkChannel(seed)
        self.ber_override = ber_override
        self.outage_frames = 0
        self.outage_periods = 0
        self._segments: list[tuple[int, int]] = []  # (frames, schedule index) per batch
        self._block_t0 = 0.0

    # ------------------------------------------------------------ schedule
    def link_state(self, t_s: float) -> LinkState:
        """The link model's state at sim time ``t_s`` (for the live view)."""
        return self.schedule.state(self.band_name, t_s)

    def delivering(self, t_s: float) -> bool:
        return bool(self._deliver[self.schedule.index(t_s)])

    def step(self, k0: int, k1: int, *, last: bool) -> dict[OutputLayer, bytes]:
        self._block_t0 = self.time_of_frame(k0)
        self._segments = []
        out = super().step(k0, k1, last=last)
        # Packets in the store or lost to overflow were not sent.
        self.status.packets -= self.store.packets + self.store.overflow_packets
        return out

    def _schedule(
        self,
        streams: dict[int, tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64],
                                 npt.NDArray[np.float64]]],
        k0: int,
        k1: int,
        t_stop: float,
        last: bool,
    ) -> list[MuxBatch]:
        pushed = dict.fromkeys(streams, 0)
        batches: list[MuxBatch] = []
        edges = [*range(k0, k1, self.period_frames), k1]
        if len(edges) == 1:
            edges.append(k1)
        zone = self.framer.packet_zone_length
        for a, b in itertools.pairwise(edges):
            final = last and b == k1
            horizon = t_stop if final else min(t_stop, self.time_of_frame(b))
            i_sched = self.schedule.index(self.time_of_frame(a))
            up = bool(self._deliver[i_sched])
            for vcid, (data, starts, times) in streams.items():
                i0 = pushed[vcid]
                i1 = int(np.searchsorted(times, horizon, side="left")) if not final else times.size
                if i1 > i0:
                    end = int(starts[i1]) if i1 < starts.size else data.size
                    chunk, offsets = data[starts[i0] : end], starts[i0:i1] - starts[i0]
                    if up:
                        self.mux.push_stream(vcid, chunk, offsets)
                    else:
                        self.store.put(chunk, offsets)
                    pushed[vcid] = i1
            if not up:
                self.outage_frames += b - a
                self.outage_periods += 1
                continue
            if self.store.packets:
                room = ((b - a) * zone - self.mux.pending_bytes()) if self.full_link else None
                got = self.store.take(room) if room is None or room > 0 else None
                if got is not None:
                    self.mux.push_stream(self.playback_vcid, *got)
            if self.full_link:
                n = b - a
                flush = final or self.mux.full_frames_available() < n
                self._add(batches, self.mux.pull(n, flush=flush, idle=True), i_sched)
            else:
                while True:
                    batch = self.mux.pull(4096, flush=final, idle=False)
                    if not len(batch):
                        break
                    self._add(batches, batch, i_sched)
        return batches

    def _add(self, batches: list[MuxBatch], batch: MuxBatch, i_sched: int) -> None:
        batches.append(batch)
        if len(batch):
            self._segments.append((len(batch), i_sched))

    # -------------------------------------------------------------- encode
    def _encode(self, batches: list[MuxBatch]) -> dict[OutputLayer, bytes]:
        out = dict.fromkeys(self.layers, b"")
        if not batches:
            return out
        batch = _concat_batches(batches)
        n = len(batch)
        counts = np.array([c for c, _ in self._segments], dtype=np.int64)
        idx = np.array([i for _, i in self._segments], dtype=np.int64)
        ocf = None
        if self.band.coding.ocf:
            flags = (np.where(self._tl.path_index[idx] < 0, NO_RF_AVAILABLE_BIT, 0)
                     | np.where(self._tl.margin_db[idx] < 0.0, NO_BIT_LOCK_BIT, 0))
            ocf = (np.uint32(self.clcw_word or 0) | np.repeat(flags, counts)).astype(np.uint32)
        frames = self.framer.frame(batch.vcids, batch.first_header_pointers, batch.zones, ocf)
        self.status.frames += n
        self.status.idle_frames += int(np.count_nonzero(batch.idle))
        if OutputLayer.FRAMES in self.layers:
            out[OutputLayer.FRAMES] = frames.tobytes()
        if self._packet_demux is not None:
            out[OutputLayer.PACKETS] = b"".join(self._packets_of(frames))
        cadus = encode_cadus(frames, self.band.coding)
        coded = self.encoder.convolve(cadus)
        channel = self._impair(coded, counts, idx)
        self.status.bytes_out += len(channel)
        out[OutputLayer.CHANNEL] = channel
        if OutputLayer.CADU in self.layers:
            out[OutputLayer.CADU] = cadus.tobytes() if self.band.coding.convolutional else channel
        return out

    def _impair(self, coded: bytes, counts: npt.NDArray[np.int64],
                idx: npt.NDArray[np.int64]) -> bytes:
        if self.ber_override is not None:
            return self.link.apply(coded)
        per_frame = self.band.coding.channel_bytes_per_frame
        parts = []
        at = 0
        for c, i in zip(counts.tolist(), idx.tolist(), strict=True):
            seg = coded[at : at + c * per_frame]
            at += c * per_frame
            ber = float(self._tl.ber[i])
            if ber < 1e-12:
                parts.append(self.channel.apply(seg, 0.0))
                continue
            parts.append(self.channel.apply(seg, ber * (1 - BURST_SHARE),
                                            GilbertElliott.for_ber(ber, BURST_SHARE)))
        return b"".join(parts)

    # --------------------------------------------------------------- async
    async def _fan_out(self, data: dict[OutputLayer, bytes]) -> None:
        if self.speed is not None:
            light = float(self._tl.light_time_s[self.schedule.index(self._block_t0)])
            if light > 0:
                await self.clock.wait_until(self._block_t0 + light)
        await super()._fan_out(data)

    async def run(self) -> dict[str, Any]:
        summary = await super().run()
        summary["link"] = self.link_summary()
        return summary

    def link_summary(self) -> dict[str, Any]:
        """Counters of the link model for ``run --json``."""
        return {
            "model": True,
            "outage_frame_slots": self.outage_frames,
            "outage_s": round(self.outage_frames / self.frames_per_second, 3),
            "playback_vcid": self.playback_vcid,
            "channel_bit_errors": self.channel.random_errors + self.channel.burst_errors,
            "bursts": self.channel.bursts,
            **self.store.counters(),
        }


def linked_emulator(profile: Any, band_name: str, start_utc: Any, *, seed: int,
                    ber_override: float | None, **engine_args: Any) -> LinkedEmulator:
    """A :class:`LinkedEmulator` for ``profile`` from ``start_utc`` (the sim's t = 0)
    over the run's duration (the schedule's grid covers one step past its end)."""
    duration = float(engine_args["duration_s"])
    schedule = LinkSchedule.from_profile(profile, start_utc, duration)
    return LinkedEmulator(schedule=schedule, band_name=band_name, seed=seed,
                          ber_override=ber_override, **engine_args)

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
from ..links.channel import GilbertElliott, LinkChannel
from ..links.schedule import LinkSchedule, LinkState
from .band import BandSetup, playback_vcid
from .engine import Emulator, Streams, _concat_batches
from .layers import OutputLayer

__all__ = ["DEFAULT_RECORDER_BYTES", "DEFAULT_RELAY_BYTES", "DEFAULT_STORE_BYTES",
           "LinkedEmulator", "OnboardStore", "PacketRecorder", "RelayBuffer", "linked_emulator",
           "playback_vcid"]

#: On-board store size (assumed: a 64 MiB telemetry partition of the flight
#: computer's mass memory; the seeds give no figure).
DEFAULT_STORE_BYTES: Final = 64 * 1024 * 1024
#: Flight recorder size (assumed, like the store: a 64 MiB partition).
DEFAULT_RECORDER_BYTES: Final = 64 * 1024 * 1024
#: A relay's store-and-forward memory (assumed: the seeds give no figure; a
#: 256 MiB partition holds about 100 s of Ka-band frames or 18 h of S-band).
DEFAULT_RELAY_BYTES: Final = 256 * 1024 * 1024
#: Share of the budget's BER that arrives in bursts (Viterbi output, fades).
BURST_SHARE: Final = 0.2
NO_RF_AVAILABLE_BIT: Final = 1 << 15  # CCSDS 232.0 4.2.1.8 (CLCW bit 16)
NO_BIT_LOCK_BIT: Final = 1 << 14  # CCSDS 232.0 4.2.1.9 (CLCW bit 17)

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


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


class PacketRecorder:
    """The flight recorder: every packet the lander made, newest kept, bounded in bytes.

    Chunks of back-to-back packets with their sim times arrive as the sampler
    makes them (per VC, in time order); when the recorder is full the oldest
    chunks are overwritten (counted). :meth:`since` gives the packets made at
    or after a time, for a ``RECORDER_DUMP`` telecommand.
    """

    def __init__(self, capacity_bytes: int = DEFAULT_RECORDER_BYTES) -> None:
        self.capacity_bytes = int(capacity_bytes)
        self._chunks: deque[tuple[U8, I64, F64]] = deque()
        self.bytes = 0
        self.overwritten_packets = 0

    def put(self, data: U8, starts: I64, times: F64) -> None:
        if not starts.size:
            return
        if data.size > self.capacity_bytes:  # keep the newest packets of a huge chunk
            first = int(np.searchsorted(starts, data.size - self.capacity_bytes, side="left"))
            self.overwritten_packets += first
            if first >= starts.size:
                return
            cut = int(starts[first])
            data, starts, times = data[cut:], starts[first:] - cut, times[first:]
        self._chunks.append((data.copy(), starts.copy(), times.copy()))
        self.bytes += data.size
        while self.bytes > self.capacity_bytes:
            old, old_starts, _t = self._chunks.popleft()
            self.bytes -= old.size
            self.overwritten_packets += int(old_starts.size)

    def since(self, t_s: float) -> tuple[U8, I64] | None:
        """The recorded packets made at or after ``t_s``, in recording order."""
        datas: list[U8] = []
        offs: list[I64] = []
        at = 0
        for data, starts, times in self._chunks:
            i = int(np.searchsorted(times, t_s, side="left"))
            if i >= starts.size:
                continue
            lo = int(starts[i])
            datas.append(data[lo:])
            offs.append(starts[i:] - lo + at)
            at += data.size - lo
        if not datas:
            return None
        return np.concatenate(datas), np.concatenate(offs)


class RelayBuffer:
    """A relay's store-and-forward memory: the lander's transfer frames it took
    while no ground station was in its view, first in first out, bounded in
    bytes. Idle frames are not kept (a relay drops fill). What does not fit is
    counted as overflow (the newest frames are lost, the oldest kept)."""

    def __init__(self, name: str, capacity_bytes: int = DEFAULT_RELAY_BYTES) -> None:
        self.name = name
        self.capacity_bytes = int(capacity_bytes)
        self._frames: dict[str, deque[U8]] = {}  # band -> (n, frame length) blocks
        self.bytes = 0
        self.frames = 0
        self.stored_frames = 0
        self.forwarded_frames = 0
        self.overflow_frames = 0

    def put(self, band: str, frames: U8) -> None:
        if not frames.shape[0]:
            return
        fit = min(frames.shape[0], (self.capacity_bytes - self.bytes) // frames.shape[1])
        self.overflow_frames += frames.shape[0] - fit
        if fit > 0:
            self._frames.setdefault(band, deque()).append(frames[:fit].copy())
            self.bytes += fit * frames.shape[1]
            self.frames += fit
            self.stored_frames += fit

    def holds(self, band: str) -> bool:
        return bool(self._frames.get(band))

    def take(self, band: str) -> U8 | None:
        """Every frame held for ``band``, oldest first, removed."""
        blocks = self._frames.pop(band, None)
        if not blocks:
            return None
        out = np.concatenate(list(blocks))
        self.bytes -= out.size
        self.frames -= out.shape[0]
        self.forwarded_frames += out.shape[0]
        return out

    def counters(self) -> dict[str, int]:
        return {"frames": self.frames, "bytes": self.bytes, "stored_frames": self.stored_frames,
                "forwarded_frames": self.forwarded_frames,
                "overflow_frames": self.overflow_frames}


def with_playback_channel(band: BandSetup) -> tuple[BandSetup, int]:
    """The band with the playback VC added at the lowest priority."""
    import dataclasses

    vcid = playback_vcid(band)
    lowest = min((c.priority for c in band.channels), default=0) - 1
    channels = (*band.channels, VirtualChannelConfig(vcid=vcid, priority=lowest))
    return dataclasses.replace(band, channels=channels), vcid


class LinkedEmulator(Emulator):
    """The engine with the link model in the loop (see the module docstring)."""

    #: Zones per ``pull`` at max speed without idle frames; the channel errors
    #: are drawn per pulled batch, so this is part of the output's definition.
    PULL_FRAMES: Final = 4096
    #: Frames coded at a time (bounds the memory of a store playback).
    ENCODE_FRAMES: Final = 4096

    def __init__(self, *, schedule: LinkSchedule, seed: int = 0,
                 ber_override: float | None = None, store_bytes: int = DEFAULT_STORE_BYTES,
                 **kwargs: Any) -> None:
        self.schedule = schedule
        self.store = OnboardStore(store_bytes)
        self.recorder = PacketRecorder()
        self.dumped_packets = 0
        self.channel = LinkChannel(seed)
        self.ber_override = ber_override
        self.outage_frames = 0
        self.outage_periods = 0
        self._outage_s_before = 0.0  # outage seconds on the bands used before this one
        self._outage_frames_at_entry = 0
        self.handover_lost_packets = 0
        #: One store-and-forward buffer per relay, by name.
        self.relays = {r.name: RelayBuffer(r.name) for r in schedule.relays}
        self._segments: list[tuple[int, int]] = []  # (frames, schedule index) per batch
        #: Runs of periods at once at max speed without idle (False: one by one,
        #: the reference the tests compare the runs with).
        self.bulk_runs = True
        self._block_t0 = 0.0
        super().__init__(**kwargs)

    def _enter_band(self, band: BandSetup) -> None:
        """The band with its playback VC (lowest priority) and its link timeline."""
        #: The previous band's playback VC (its packets stay playback on the new band).
        self._old_playback_vcid = getattr(self, "playback_vcid", None)
        band, self.playback_vcid = with_playback_channel(band)
        super()._enter_band(band)
        # A copy: the schedule is cached and shared between runs in one process.
        self._tl = copy.deepcopy(self.schedule.timeline(band.name))
        self._deliver = self._tl.delivering()
        # Periods whose frames a relay takes and holds (it sees no station yet).
        self._hold = self._tl.relay_store & (self._tl.path_index >= 1) & ~self._tl.no_bit_lock
        # (R, N): relay r sees a station that receives this band: it forwards.
        fwd = self.schedule.relay_station_visible(band.name)
        self._relay_forward: npt.NDArray[np.bool_] = (
            np.asarray(fwd.any(axis=1), dtype=np.bool_) if fwd.size
            else np.zeros((len(self.relays), self._deliver.size), dtype=np.bool_))
        self._outage_frames_at_entry = self.outage_frames

    @property
    def band_name(self) -> str:
        """The band transmitting now (it follows band switches)."""
        return self.band.name

    def _leave_band(self) -> None:
        self._outage_s_before += ((self.outage_frames - self._outage_frames_at_entry)
                                  / self.frames_per_second)

    def _tail_batches(self, k: int) -> list[MuxBatch]:
        """The tails of started packets go out on the old band if its link is up;
        in an outage they cannot reach the ground and are counted as lost."""
        self._segments = []
        t = self.time_of_frame(k)
        i = self.schedule.index(t)
        if not (self._deliver[i] or self._hold[i]):
            self.handover_lost_packets += self.mux.pending_packets()
            for c in self.mux.channels:  # drop the tails
                self.mux.pull_channel(c.vcid, self.mux.pending_bytes(c.vcid) // self.mux.zone_length)
            self.mux.pull(1 << 30, flush=True, idle=False)
            return []
        batches: list[MuxBatch] = []
        self._add(batches, self.mux.pull(1 << 30, flush=True, idle=False),
                  self.schedule.index(t))
        return [b for b in batches if len(b)]

    def _hand_over(self, old: BandSetup, vcid: int, data: U8, starts: I64) -> None:
        if vcid == self._old_playback_vcid:  # the playback stays a playback
            self.mux.push_stream(self.playback_vcid, data, starts)
            return
        super()._hand_over(old, vcid, data, starts)

    # ------------------------------------------------------------ schedule
    def recorder_dump(self, from_met_s: float) -> int:
        """``RECORDER_DUMP``: the recorded packets made at or after ``from_met_s``
        (sim seconds) join the store and play back on the playback VC as the
        link allows (what does not fit in the store is counted as overflow).
        Returns the number of packets queued."""
        got = self.recorder.since(from_met_s)
        if got is None:
            return 0
        before = self.store.stored_packets
        self.store.put(*got)
        queued = self.store.stored_packets - before
        self.dumped_packets += queued
        return queued

    def link_state(self, t_s: float) -> LinkState:
        """The link model's state at sim time ``t_s`` (for the live view)."""
        return self.schedule.state(self.band_name, t_s)

    def delivering(self, t_s: float) -> bool:
        return bool(self._deliver[self.schedule.index(t_s)])

    def uplink_delay_s(self, t_s: float) -> float | None:
        """A telecommand sent at ``t_s``: its one-way light time on the path the
        downlink uses (the transponder is assumed two-way on that band), or None
        when that path is down, the same outage mask that stops the frames."""
        i = self.schedule.index(t_s)
        return float(self._tl.light_time_s[i]) if self._deliver[i] else None

    def step(self, k0: int, k1: int, *, last: bool) -> dict[OutputLayer, bytes]:
        self._block_t0 = self.time_of_frame(k0)
        self._segments = []
        out = super().step(k0, k1, last=last)
        # Packets in the store or lost to overflow were not sent.
        self.status.packets -= self.store.packets + self.store.overflow_packets
        return out

    def _schedule(
        self,
        streams: Streams,
        k0: int,
        k1: int,
        t_stop: float,
        last: bool,
    ) -> list[MuxBatch]:
        """The mux periods of ``[k0, k1)``, as if run one by one.

        On a full link each period is its own step (:meth:`_period`). At max
        speed without idle frames a period only moves every full zone out, so
        a run of consecutive periods with the same link state is done at once
        (:meth:`_up_run`, :meth:`_down_run`): the same zones in the same order,
        without a Python step per period. The final period (flush) is always
        done on its own.
        """
        for data, starts, times in streams.values():
            self.recorder.put(data, starts, times)
        pushed = dict.fromkeys(streams, 0)
        batches: list[MuxBatch] = []
        edges = [*range(k0, k1, self.period_frames), k1]
        if len(edges) == 1:
            edges.append(k1)
        e = np.asarray(edges, dtype=np.int64)
        a_k, b_k = e[:-1], e[1:]
        # The same float arithmetic as time_of_frame / schedule.index, per period.
        horizon = np.minimum(t_stop, self._t_origin + b_k / self.frames_per_second)
        step_s, n_sched = self.schedule.step_s, self.schedule.seconds.size
        i_sched = np.clip(np.floor_divide(self._t_origin + a_k / self.frames_per_second, step_s),
                          0, n_sched - 1).astype(np.int64)
        # Frames are made while a path delivers them or a relay takes them to hold.
        up = (self._deliver | self._hold)[i_sched]
        n_periods = a_k.size
        bulk = n_periods - (1 if last else 0)  # the final period is done on its own
        if self.full_link or not self.bulk_runs:
            bulk = 0
        if bulk > 0:
            # Packets available to each period: those sampled before its horizon.
            ends = {v: np.searchsorted(times, horizon[:bulk], side="left")
                    for v, (_d, _s, times) in streams.items()}
            change = np.flatnonzero(np.diff(up[:bulk].astype(np.int8))) + 1
            bounds = [0, *change.tolist(), bulk]
            for p0, p1 in itertools.pairwise(bounds):
                if up[p0]:
                    self._up_run(streams, pushed, ends, p0, p1, i_sched, batches)
                else:
                    self._down_run(streams, pushed, ends, p0, p1, a_k, b_k)
        for p in range(bulk, n_periods):
            a, b = int(a_k[p]), int(b_k[p])
            final = last and b == k1
            self._period(streams, pushed, a, b, t_stop if final else float(horizon[p]),
                         final, int(i_sched[p]), bool(up[p]), batches)
        return batches

    def _period(
        self,
        streams: Streams,
        pushed: dict[int, int],
        a: int,
        b: int,
        horizon: float,
        final: bool,
        i_sched: int,
        up: bool,
        batches: list[MuxBatch],
    ) -> None:
        """One mux period ``[a, b)`` (the reference for the bulk runs)."""
        zone = self.framer.packet_zone_length
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
            return
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
                batch = self.mux.pull(self.PULL_FRAMES, flush=final, idle=False)
                if not len(batch):
                    break
                self._add(batches, batch, i_sched)

    def _up_run(
        self,
        streams: Streams,
        pushed: dict[int, int],
        ends: dict[int, I64],
        p0: int,
        p1: int,
        i_sched: I64,
        batches: list[MuxBatch],
    ) -> None:
        """Periods ``[p0, p1)`` with the link up, max speed without idle, not final.

        Each period pushes what was sampled before its horizon (the store plays
        back in the first one: nothing is stored while the link is up) and
        pulls every full zone, VC by VC in priority order. So VC ``v`` sends
        ``floor(bytes_v(p) / zone) - floor(bytes_v(p - 1) / zone)`` zones in
        period ``p``, where ``bytes_v`` counts what it was given so far; its
        zones and FHPs do not depend on how they are cut into pulls.
        """
        zl = self.mux.zone_length
        n = p1 - p0
        given: dict[int, I64] = {}  # vcid -> bytes given to the mux by the end of each period
        before = {c.vcid: self.mux.pending_bytes(c.vcid) // zl for c in self.mux.channels}
        for vcid, (data, starts, _times) in streams.items():
            i0 = pushed[vcid]
            i_end = ends[vcid][p0:p1]
            base = self.mux.pending_bytes(vcid)
            s_ext = np.append(starts, data.size)
            given[vcid] = base + (s_ext[i_end] - s_ext[i0])
            i1 = int(i_end[-1])
            if i1 > i0:
                end = int(s_ext[i1])
                self.mux.push_stream(vcid, data[starts[i0] : end], starts[i0:i1] - starts[i0])
                pushed[vcid] = i1
        if self.store.packets:
            got = self.store.take(None)
            if got is not None:
                self.mux.push_stream(self.playback_vcid, *got)
        order = [c.vcid for c in self.mux.channels]
        counts = np.zeros((n, len(order)), dtype=np.int64)
        for j, vcid in enumerate(order):
            cum = given.get(vcid)
            if cum is None:
                cum = np.full(n, self.mux.pending_bytes(vcid), dtype=np.int64)
            full = cum // zl
            counts[:, j] = np.diff(full, prepend=before[vcid])
        total = int(counts.sum())
        if not total:
            return
        parts = [self.mux.pull_channel(v, int(counts[:, j].sum())) for j, v in enumerate(order)]
        # Rows of every VC's zones, in the order the periods would pull them.
        first_row = np.concatenate([[0], np.cumsum(counts.sum(axis=0))[:-1]])
        src = (first_row[None, :] + np.cumsum(counts, axis=0) - counts).reshape(-1)
        flat = counts.reshape(-1)
        dst = np.cumsum(flat) - flat
        idx = np.repeat(src - dst, flat) + np.arange(total)
        merged = _concat_batches([p for p in parts if len(p)])
        batches.append(MuxBatch(
            vcids=merged.vcids[idx], first_header_pointers=merged.first_header_pointers[idx],
            zones=merged.zones[idx], idle=merged.idle[idx],
            packets_started=merged.packets_started))
        per_period = counts.sum(axis=1)
        for p in np.flatnonzero(per_period).tolist():
            m, i = int(per_period[p]), int(i_sched[p0 + p])
            # As successive pull(PULL_FRAMES) calls cut the period.
            q, r = divmod(m, self.PULL_FRAMES)
            self._segments.extend([(self.PULL_FRAMES, i)] * q)
            if r:
                self._segments.append((r, i))

    def _down_run(
        self,
        streams: Streams,
        pushed: dict[int, int],
        ends: dict[int, I64],
        p0: int,
        p1: int,
        a_k: I64,
        b_k: I64,
    ) -> None:
        """Periods ``[p0, p1)`` in outage: their packets go to the store, period
        by period and VC by VC (the store's order and what overflows)."""
        self.outage_frames += int(b_k[p1 - 1] - a_k[p0])
        self.outage_periods += p1 - p0
        chunks: list[tuple[int, int, int]] = []  # (vcid, i0, i1) in period-major order
        first = dict(pushed)
        for p in range(p0, p1):
            for vcid in streams:
                i1 = int(ends[vcid][p])
                if i1 > pushed[vcid]:
                    chunks.append((vcid, pushed[vcid], i1))
                    pushed[vcid] = i1
        if not chunks:
            return
        s_ext = {v: np.append(s, d.size) for v, (d, s, _t) in streams.items()}
        total = sum(int(s_ext[v][pushed[v]] - s_ext[v][first[v]]) for v in streams)
        room = self.store.capacity_bytes - self.store.bytes
        if total <= room:
            # Everything fits: one chunk with the packets in the same order.
            datas, offs, at = [], [], 0
            for vcid, i0, i1 in chunks:
                data, starts, _t = streams[vcid]
                lo, hi = int(s_ext[vcid][i0]), int(s_ext[vcid][i1])
                datas.append(data[lo:hi])
                offs.append(starts[i0:i1] - lo + at)
                at += hi - lo
            self.store.put(np.concatenate(datas), np.concatenate(offs))
            return
        shortest = min(int(np.diff(s_ext[v][first[v]: pushed[v] + 1]).min())
                       for v in streams if pushed[v] > first[v])
        for c, (vcid, i0, i1) in enumerate(chunks):
            if self.store.capacity_bytes - self.store.bytes < shortest:
                # Full: nothing more of this run fits, every packet overflows.
                for v2, j0, j1 in chunks[c:]:
                    self.store.overflow_packets += j1 - j0
                    self.store.overflow_bytes += int(s_ext[v2][j1] - s_ext[v2][j0])
                return
            data, starts, _t = streams[vcid]
            lo, hi = int(s_ext[vcid][i0]), int(s_ext[vcid][i1])
            self.store.put(data[lo:hi], starts[i0:i1] - lo)

    def _add(self, batches: list[MuxBatch], batch: MuxBatch, i_sched: int) -> None:
        batches.append(batch)
        if len(batch):
            self._segments.append((len(batch), i_sched))

    # -------------------------------------------------------------- encode
    def _encode(self, batches: list[MuxBatch]) -> dict[OutputLayer, bytes]:
        """Frame, code and impair the step's zones, a few thousand frames at a time.

        A step is usually far below :attr:`ENCODE_FRAMES`; a store playback
        (up to the whole store in one period at max speed) is not, and coding
        it in one go held several copies of it at once. The pieces end on
        error-segment boundaries and every stage streams (frame counters,
        convolutional state), so the bytes are those of one piece.
        """
        out = dict.fromkeys(self.layers, b"")
        pieces: dict[OutputLayer, list[bytes]] = {layer: [] for layer in self.layers}
        if not batches:
            # The lander sends nothing now, but a relay may see a station again.
            i = self.schedule.index(self._block_t0)
            held = self._take_forwarded(i)
            if held is None:
                return out
            return self._encode_frames(held, np.array([held.shape[0]]), np.array([i]), 0)
        batch = _concat_batches(batches)
        counts = np.array([c for c, _ in self._segments], dtype=np.int64)
        idx = np.array([i for _, i in self._segments], dtype=np.int64)
        seg_end = np.cumsum(counts)
        if self.ber_override is not None or int(seg_end[-1]) <= self.ENCODE_FRAMES:
            cuts = [0, counts.size]
        else:
            cuts = [0]
            while cuts[-1] < counts.size:
                f0 = int(seg_end[cuts[-1] - 1]) if cuts[-1] else 0
                j = int(np.searchsorted(seg_end, f0 + self.ENCODE_FRAMES, side="right"))
                cuts.append(max(j, cuts[-1] + 1))
        for s0, s1 in itertools.pairwise(cuts):
            f0 = int(seg_end[s0 - 1]) if s0 else 0
            f1 = int(seg_end[s1 - 1])
            part = MuxBatch(vcids=batch.vcids[f0:f1],
                            first_header_pointers=batch.first_header_pointers[f0:f1],
                            zones=batch.zones[f0:f1], idle=batch.idle[f0:f1], packets_started=0)
            for layer, data in self._encode_piece(part, counts[s0:s1], idx[s0:s1]).items():
                pieces.setdefault(layer, []).append(data)
        for layer, parts in pieces.items():
            out[layer] = parts[0] if len(parts) == 1 else b"".join(parts)
        return out

    def _encode_piece(self, batch: MuxBatch, counts: npt.NDArray[np.int64],
                      idx: npt.NDArray[np.int64]) -> dict[OutputLayer, bytes]:
        ocf = None
        if self.band.coding.ocf:
            flags = (np.where(self._tl.path_index[idx] < 0, NO_RF_AVAILABLE_BIT, 0)
                     | np.where(self._tl.margin_db[idx] < 0.0, NO_BIT_LOCK_BIT, 0))
            ocf = (np.uint32(self.clcw_word or 0) | np.repeat(flags, counts)).astype(np.uint32)
        frames = self.framer.frame(batch.vcids, batch.first_header_pointers, batch.zones, ocf)
        idle = batch.idle
        hold = self._hold[idx]
        band = self.band.name
        if not hold.any() and not any(buf.holds(band) for buf in self.relays.values()):
            return self._encode_frames(frames, counts, idx, int(np.count_nonzero(idle)))
        # Segment by segment, in time order: a period whose frames a relay takes
        # while it sees no station goes to that relay (not its idle frames); at
        # the first period a relay holding frames sees a station again, they go
        # out there, before the frames made after them.
        parts: list[dict[OutputLayer, bytes]] = []
        ends = np.cumsum(counts)
        first = ends - counts
        via = self._tl.path_index[idx] - 1
        relays = list(self.relays.values())

        def flush_live(j0: int, j1: int) -> None:
            if j1 > j0:
                r0, r1 = int(first[j0]), int(ends[j1 - 1])
                parts.append(self._encode_frames(frames[r0:r1], counts[j0:j1], idx[j0:j1],
                                                 int(np.count_nonzero(idle[r0:r1]))))

        live_from = 0
        for j in range(counts.size):
            if hold[j]:
                flush_live(live_from, j)
                live_from = j + 1
                r0, r1 = int(first[j]), int(ends[j])
                relays[int(via[j])].put(band, frames[r0:r1][~idle[r0:r1]])
            elif self._first_forward(idx, j, j + 1) is not None:
                flush_live(live_from, j)
                live_from = j
                held = self._take_forwarded(int(idx[j]))
                assert held is not None
                parts.append(self._encode_frames(held, np.array([held.shape[0]]),
                                                 idx[j : j + 1], 0))
        flush_live(live_from, counts.size)
        if len(parts) == 1:
            return parts[0]
        return {layer: b"".join(p[layer] for p in parts) for layer in self.layers}

    def _first_forward(self, idx: npt.NDArray[np.int64], start: int,
                       stop: int | None = None) -> int | None:
        """The first segment in ``[start, stop)`` at which a relay holding
        frames of this band sees a station."""
        holders = [r for r, buf in enumerate(self.relays.values()) if buf.holds(self.band.name)]
        if not holders or start >= idx.size:
            return None
        fwd = self._relay_forward[holders][:, idx[start:stop]].any(axis=0)
        hit = np.flatnonzero(fwd)
        return start + int(hit[0]) if hit.size else None

    def _take_forwarded(self, i: int) -> U8 | None:
        """The frames of this band held by every relay that sees a station at
        schedule step ``i``: all of them at once, the relay's trunk to Earth
        being faster than the lander's link to it (assumed)."""
        got = [f for r, buf in enumerate(self.relays.values())
               if self._relay_forward[r, i] and (f := buf.take(self.band.name)) is not None]
        return np.concatenate(got) if got else None

    def _encode_frames(self, frames: U8, counts: npt.NDArray[np.int64],
                       idx: npt.NDArray[np.int64], n_idle: int) -> dict[OutputLayer, bytes]:
        """Code and impair transfer frames that reach the ground (segments of
        ``counts`` frames at schedule steps ``idx``)."""
        out = dict.fromkeys(self.layers, b"")
        n = frames.shape[0]
        if not n:
            return out
        self.status.frames += n
        self.status.idle_frames += n_idle
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
        if self.ber_override is None:
            # A modulating sink draws its noise from the budget's Eb/N0 (per block).
            ebn0 = float(self._tl.ebn0_db[self.schedule.index(self._block_t0)])
            for output in self.outputs:
                set_ebn0 = getattr(output.sink, "set_link_ebn0", None)
                if set_ebn0 is not None:
                    set_ebn0(ebn0)
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
            "outage_s": round(self._outage_s_before + (self.outage_frames
                                                       - self._outage_frames_at_entry)
                              / self.frames_per_second, 3),
            "handover_lost_packets": self.handover_lost_packets,
            "playback_vcid": self.playback_vcid,
            "channel_bit_errors": self.channel.random_errors + self.channel.burst_errors,
            "bursts": self.channel.bursts,
            "recorder_bytes": self.recorder.bytes,
            "recorder_overwritten_packets": self.recorder.overwritten_packets,
            "recorder_dumped_packets": self.dumped_packets,
            **self.store.counters(),
            "relays": {name: buf.counters() for name, buf in self.relays.items()},
        }


def linked_emulator(profile: Any, band_name: str, start_utc: Any, *, seed: int,
                    ber_override: float | None, **engine_args: Any) -> LinkedEmulator:
    """A :class:`LinkedEmulator` for ``profile`` from ``start_utc`` (the sim's t = 0)
    over the run's duration (the schedule's grid covers one step past its end)."""
    duration = float(engine_args["duration_s"])
    schedule = LinkSchedule.from_profile(profile, start_utc, duration)
    band = engine_args["band"]
    if band.name != band_name:
        raise ValueError(f"linked_emulator: band {band_name!r} is not the engine's {band.name!r}")
    return LinkedEmulator(schedule=schedule, seed=seed, ber_override=ber_override,
                          **engine_args)

"""Telemetry sampler: lander state over a time window -> space packets per VC.

For each APID with rate ``r`` the packet times in ``[t0, t1)`` are ``k / r``;
the sim state is sampled at those times, encoded through the telemetry
dictionary in one vectorised step per APID, and the packets of every APID on a
virtual channel are merged in time order (ties by APID) into one byte stream,
without a per-packet Python loop.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..ccsds import PRIMARY_HEADER_LENGTH, SequenceCounter, build_space_packets
from ..sim.simulation import StateBlock
from ..telemetry import PacketLayout, TelemetryDictionary


@dataclass
class SampledPackets:
    """Packets of one window, per virtual channel, in time order.

    ``streams[vcid]`` is ``(data, starts, times)``: the packets back to back,
    the offset of each (so the multiplexer need not walk the headers) and the
    sim time at which each was sampled.
    """

    streams: dict[
        int, tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.float64]]
    ] = field(default_factory=dict)
    count: int = 0
    by_apid: Counter[int] = field(default_factory=Counter)


class TelemetrySampler:
    """Turns :class:`StateBlock` windows into packets, deterministically."""

    def __init__(
        self,
        dictionary: TelemetryDictionary,
        vcid_of_apid: Mapping[int, int],
        *,
        epoch_cuc_seconds: float,
        seed: int = 0,
        enabled_by: Mapping[int, str] | None = None,
    ) -> None:
        self.dictionary = dictionary
        self.vcid_of_apid = dict(vcid_of_apid)
        self.epoch_cuc_seconds = float(epoch_cuc_seconds)
        self.counter = SequenceCounter()
        self.enabled_by = dict(enabled_by or {})
        self.seed = seed
        # One generator per APID, consumed in whole 32-bit words per packet: the
        # science bytes of a packet do not depend on how time is cut into windows.
        self._rngs: dict[int, np.random.Generator] = {}
        self._sources = dictionary.sources()
        self._layouts = [lay for lay in dictionary if lay.apid in self.vcid_of_apid]

    def set_vcid_map(self, vcid_of_apid: Mapping[int, int], default_vcid: int) -> None:
        """A band switch: each APID's packets go on the VC it has on the new band
        (``default_vcid`` for an APID that band does not list)."""
        self.vcid_of_apid = {apid: int(vcid_of_apid.get(apid, default_vcid))
                             for apid in self.vcid_of_apid}

    def offered_bytes_per_second(self) -> float:
        """Telemetry bytes per simulated second if every APID sends at its rate."""
        return float(sum(lay.rate_hz * (PRIMARY_HEADER_LENGTH + lay.user_data_length)
                         for lay in self._layouts))

    @staticmethod
    def packet_times(rate_hz: float, t0: float, t1: float) -> npt.NDArray[np.float64]:
        """Sample instants ``k / rate`` in ``[t0, t1)``."""
        if rate_hz <= 0 or t1 <= t0:
            return np.empty(0)
        k0 = math.ceil(t0 * rate_hz - 1e-9)
        k1 = math.ceil(t1 * rate_hz - 1e-9)
        return np.arange(k0, k1, dtype=np.float64) / rate_hz

    def sample(self, block: StateBlock, t0: float, t1: float) -> SampledPackets:
        """All packets with sample times in ``[t0, t1)``."""
        out = SampledPackets()
        per_vc: dict[int, list[tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8], int]]] = {}
        for layout in self._layouts:
            times = self.packet_times(layout.rate_hz, t0, t1)
            if times.size == 0:
                continue
            gate = self.enabled_by.get(layout.apid)
            keys = sorted({c.source for c in layout.channels} | ({gate} if gate else set()))
            values = block.sample(keys, times) if keys else {}
            if gate:
                on = values[gate] > 0.5
                if not on.any():
                    continue
                times = times[on]
                values = {k: v[on] for k, v in values.items()}
            pkts = self._encode(layout, times, values)
            per_vc.setdefault(self.vcid_of_apid[layout.apid], []).append((times, pkts, layout.apid))
            out.count += pkts.shape[0]
            out.by_apid[layout.apid] += pkts.shape[0]
        for vcid, parts in per_vc.items():
            out.streams[vcid] = _merge_in_time_order(parts)
        return out

    def _encode(
        self,
        layout: PacketLayout,
        times: npt.NDArray[np.float64],
        values: Mapping[str, npt.NDArray[np.float64]],
    ) -> npt.NDArray[np.uint8]:
        n = times.shape[0]
        science = None
        if layout.science_bytes:
            rng = self._rngs.get(layout.apid)
            if rng is None:
                rng = self._rngs[layout.apid] = np.random.default_rng([self.seed, 0x5C1E, layout.apid])
            words = -(-layout.science_bytes // 4)
            raw = rng.integers(0, 1 << 32, (n, words), dtype=np.uint32)
            science = raw.astype("<u4", copy=False).view(np.uint8)[:, : layout.science_bytes]
        user = layout.encode(times + self.epoch_cuc_seconds, values, science)
        seq = self.counter.take(layout.apid, n)
        return build_space_packets(layout.apid, seq, user, sec_header_flag=True)


def _merge_in_time_order(
    parts: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8], int]],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Interleave fixed-length packet arrays of several APIDs by (time, APID)."""
    if len(parts) == 1:
        n, length = parts[0][1].shape
        return parts[0][1].reshape(-1), np.arange(n, dtype=np.int64) * length, parts[0][0]
    times = np.concatenate([p[0] for p in parts])
    apids = np.concatenate([np.full(p[0].shape[0], p[2]) for p in parts])
    lengths = np.concatenate([np.full(p[1].shape[0], p[1].shape[1], dtype=np.int64) for p in parts])
    order = np.lexsort((apids, times))
    olen = lengths[order]
    dst_start = np.empty(order.size, dtype=np.int64)
    dst_start[0] = 0
    np.cumsum(olen[:-1], out=dst_start[1:])
    # Where each source packet lands, then one 2-D scatter per APID (its packets
    # all have one length): no index array over every output byte.
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    out = np.empty(int(olen.sum()), dtype=np.uint8)
    first = 0
    for _t, pkts, _apid in parts:
        n, length = pkts.shape
        at = dst_start[rank[first : first + n]]
        out[at[:, None] + np.arange(length)] = pkts
        first += n
    return out, dst_start, times[order]

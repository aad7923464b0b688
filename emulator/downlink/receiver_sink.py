"""The embedded ground receiver: the default sink of ``lunar-hil run``.

With no ``--out``, ``run`` sends the coded stream into
:class:`EmbeddedReceiverSink`, an in-process ground station: the same
:class:`~lunar_hil.emulator.ccsds.receiver.Receiver` that ``lunar-hil decode``
uses. The live view reads what it decoded.
"""

from __future__ import annotations

import dataclasses
from types import TracebackType
from typing import Self

from ..ccsds import ChannelCoding, Receiver, apid_of
from ..ccsds.receiver import ReceiverCounters
from ..telemetry import TelemetryDictionary


class EmbeddedReceiverSink:
    """A byte sink that decodes everything it is given."""

    url = "embedded"

    def __init__(self, coding: ChannelCoding, dictionary: TelemetryDictionary, *,
                 scid: int | None = None, idle_vcid: int | None = None) -> None:
        self.receiver = Receiver(coding, scid=scid, idle_vcid=idle_vcid, keep_frames=False)
        self.scid = scid
        self._past: ReceiverCounters | None = None  # counters of the bands before this one
        self.dictionary = dictionary
        self.counters: dict[str, int] = {"bytes_out": 0, "writes": 0}
        self.latest: dict[int, bytes] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._keep(self.receiver.flush().packets)

    async def write(self, data: bytes) -> None:
        self.counters["bytes_out"] += len(data)
        self.counters["writes"] += 1
        self._keep(self.receiver.feed(data).packets)

    async def retune(self, *, coding: ChannelCoding, idle_vcid: int | None = None,
                     **_band: object) -> None:
        """A band switch: the ground station tunes its receiver for the new
        band's coding (as a station switches receiver chains). The old chain is
        flushed first; the counters carry on, summed over the bands."""
        self._keep(self.receiver.flush().packets)
        self._past = self.totals()
        self.receiver = Receiver(coding, scid=self.scid, idle_vcid=idle_vcid, keep_frames=False)
        self.counters["band_switches"] = self.counters.get("band_switches", 0) + 1

    def totals(self) -> ReceiverCounters:
        """The receiver counters summed over every band this run used."""
        now = self.receiver.counters
        if self._past is None:
            return now
        out = ReceiverCounters()
        for f in dataclasses.fields(ReceiverCounters):
            setattr(out, f.name, getattr(self._past, f.name) + getattr(now, f.name))
        return out

    def _keep(self, packets: list[bytes]) -> None:
        # The view needs only the newest packet per APID; the tail of a batch
        # holds it for every APID that is still sending.
        for pkt in packets[-256:]:
            self.latest[apid_of(pkt)] = pkt

    def decoded_params(self, per_apid: int = 4) -> dict[str, tuple[float, str]]:
        """{channel: (value, unit)}: the first channels of the newest packet of each APID."""
        out: dict[str, tuple[float, str]] = {}
        for apid in sorted(self.latest):
            if apid not in self.dictionary:
                continue
            layout = self.dictionary[apid]
            units = {c.name: c.unit for c in layout.channels}
            for rec in self.dictionary.decode_packets([self.latest[apid]]):
                for name, value in list(rec["params"].items())[:per_apid]:
                    out[name] = (value, units.get(name, ""))
        return out

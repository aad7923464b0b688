"""The embedded ground receiver: the default sink of ``lunar-hil run``.

With no ``--out``, ``run`` sends the coded stream into
:class:`EmbeddedReceiverSink`, an in-process ground station: the same
:class:`~lunar_hil.emulator.ccsds.receiver.Receiver` that ``lunar-hil decode``
uses. The live view reads what it decoded.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from ..ccsds import ChannelCoding, Receiver, apid_of
from ..telemetry import TelemetryDictionary


class EmbeddedReceiverSink:
    """A byte sink that decodes everything it is given."""

    url = "embedded"

    def __init__(self, coding: ChannelCoding, dictionary: TelemetryDictionary, *,
                 scid: int | None = None, idle_vcid: int | None = None) -> None:
        self.receiver = Receiver(coding, scid=scid, idle_vcid=idle_vcid, keep_frames=False)
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

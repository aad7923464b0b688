"""The telemetry dictionary: one definition of every packet's layout.

A profile lists APIDs and their channels; this module turns that into numpy
structured dtypes (big-endian, packed, CCSDS bit order) so that

* the emulator's sampler encodes engineering values of many packets at once
  (``PacketLayout.encode``: (N,) arrays in, (N, L) user data out),
* ``lunar-hil decode --params-out`` decodes them back (``PacketLayout.decode``),
* and ``lunar-hil xtce`` describes exactly the same bits.

A packet's user data field is the CUC time secondary header (4 coarse + 2 fine
octets, CCSDS 301.0, epoch 1958-01-01 TAI, P-field implicit) followed by the
channels in profile order, followed by ``science_bytes`` of opaque science
data when the APID carries any.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .ccsds import apid_of, decode_cuc_batch, encode_cuc_batch
from .errors import ConfigError

#: Channel type names in profiles -> big-endian numpy type codes.
CHANNEL_TYPES: Final[dict[str, str]] = {
    "u8": ">u1", "u16": ">u2", "u32": ">u4",
    "i8": ">i1", "i16": ">i2", "i32": ">i4",
    "f32": ">f4", "f64": ">f8",
}
#: CUC T-field: 4 coarse + 2 fine octets.
CUC_COARSE: Final = 4
CUC_FINE: Final = 2
SECONDARY_HEADER_LENGTH: Final = CUC_COARSE + CUC_FINE


#: (min, max) of each integer channel type, for the saturating conversion.
_INT_LIMITS: Final[dict[str, tuple[int, int]]] = {
    code: (int(np.iinfo(np.dtype(code)).min), int(np.iinfo(np.dtype(code)).max))
    for code in CHANNEL_TYPES.values()
    if np.dtype(code).kind in "ui"
}


@dataclass(frozen=True)
class ChannelDef:
    """One telemetry parameter inside a packet."""

    name: str
    type: str
    unit: str
    source: str
    low: float
    high: float
    scale: float = 1.0
    offset: float = 0.0

    @property
    def is_integer(self) -> bool:
        return self.type[0] in "ui"

    def to_raw(self, eng: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
        """Engineering -> raw, saturating at the type's limits (never wrapping)."""
        code = CHANNEL_TYPES[self.type]
        if not self.is_integer:
            return eng.astype(code)
        lo, hi = _INT_LIMITS[code]
        # In place: the same values as rint((nan_to_num(eng) - offset) / scale)
        # clipped (an infinity saturates either way), then NaN -> raw of 0.0.
        raw = np.subtract(eng, self.offset)
        if raw.dtype.kind != "f":
            raw = raw.astype(np.float64)
        raw /= self.scale
        np.rint(raw, out=raw)
        np.clip(raw, lo, hi, out=raw)
        nan = np.isnan(raw)
        if nan.any():
            raw[nan] = np.clip(np.rint((0.0 - self.offset) / self.scale), lo, hi)
        return raw.astype(code)

    def to_eng(self, raw: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """Raw -> engineering (the inverse calibration)."""
        if not self.is_integer:
            return raw.astype(np.float64)
        return raw.astype(np.float64) * self.scale + self.offset


@dataclass(frozen=True)
class PacketLayout:
    """Layout of one APID's user data field."""

    apid: int
    name: str
    rate_hz: float
    channels: tuple[ChannelDef, ...]
    science_bytes: int = 0
    vcid: int = 0

    @property
    def dtype(self) -> np.dtype[Any]:
        fields = [(c.name, CHANNEL_TYPES[c.type]) for c in self.channels]
        if self.science_bytes:
            fields.append(("__science__", f"V{self.science_bytes}"))
        return np.dtype(fields)

    @property
    def user_data_length(self) -> int:
        """Octets of the packet data field (secondary header included)."""
        return SECONDARY_HEADER_LENGTH + self.dtype.itemsize

    def encode(
        self,
        cuc_seconds: npt.NDArray[np.float64],
        values: Mapping[str, npt.NDArray[np.float64]],
        science: npt.NDArray[np.uint8] | None = None,
    ) -> npt.NDArray[np.uint8]:
        """Build N user data fields from (N,) times and per-source (N,) values.

        ``values`` is keyed by channel *source* (sim state key).
        """
        n = cuc_seconds.shape[0]
        rec = np.zeros(n, dtype=self.dtype)
        for c in self.channels:
            rec[c.name] = c.to_raw(values[c.source])
        out = np.empty((n, self.user_data_length), dtype=np.uint8)
        out[:, :SECONDARY_HEADER_LENGTH] = encode_cuc_batch(cuc_seconds, CUC_COARSE, CUC_FINE)
        body = rec.view(np.uint8).reshape(n, self.dtype.itemsize)
        out[:, SECONDARY_HEADER_LENGTH:] = body
        if self.science_bytes and science is not None:
            out[:, self.user_data_length - self.science_bytes :] = science
        return out

    def decode(
        self, user_data: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[np.float64]]]:
        """(N, L) user data -> (times, {channel name: engineering values})."""
        n = user_data.shape[0]
        times = decode_cuc_batch(user_data[:, :SECONDARY_HEADER_LENGTH], CUC_COARSE, CUC_FINE)
        body = np.ascontiguousarray(user_data[:, SECONDARY_HEADER_LENGTH : self.user_data_length])
        rec = body.view(self.dtype).reshape(n)
        return times, {c.name: c.to_eng(rec[c.name]) for c in self.channels}


class TelemetryDictionary:
    """All packet layouts of one profile, by APID."""

    def __init__(self, layouts: Iterable[PacketLayout]) -> None:
        self.layouts: dict[int, PacketLayout] = {}
        for layout in layouts:
            if layout.apid in self.layouts:
                raise ConfigError(f"APID {layout.apid} defined twice")
            self.layouts[layout.apid] = layout

    def __getitem__(self, apid: int) -> PacketLayout:
        return self.layouts[apid]

    def __contains__(self, apid: object) -> bool:
        return apid in self.layouts

    def __iter__(self) -> Any:
        return iter(self.layouts.values())

    def sources(self) -> list[str]:
        """Every sim state key some channel needs."""
        seen: dict[str, None] = {}
        for layout in self.layouts.values():
            for c in layout.channels:
                seen.setdefault(c.source, None)
        return list(seen)

    def decode_packets(self, packets: Iterable[bytes]) -> Iterable[dict[str, Any]]:
        """Decode space packets one by one into ``{apid, seq, time, params}`` dicts.

        Unknown APIDs and packets too short for their layout still yield a
        record, with ``params`` empty and an ``error`` string (never raise: the
        bytes came from outside).
        """
        for pkt in packets:
            apid = apid_of(pkt)
            seq = ((pkt[2] & 0x3F) << 8) | pkt[3]
            layout = self.layouts.get(apid)
            rec: dict[str, Any] = {"apid": apid, "seq": seq}
            if layout is None:
                rec.update(time=None, params={}, error="unknown APID")
                yield rec
                continue
            data = np.frombuffer(pkt, dtype=np.uint8, offset=6)
            if data.size < layout.user_data_length:
                rec.update(time=None, params={}, error="packet shorter than its layout")
                yield rec
                continue
            times, values = layout.decode(data[None, : layout.user_data_length])
            rec["time"] = float(times[0])
            rec["params"] = {k: _plain(v[0]) for k, v in values.items()}
            yield rec


def _plain(x: np.float64) -> float | int:
    v = float(x)
    return int(v) if v.is_integer() and abs(v) < 2**53 else v

"""CCSDS Unsegmented time Code (CUC, CCSDS 301.0-B-4 §3.2).

The T-field is a binary count of seconds (``coarse_octets``, 1..4) followed by
a binary fraction of a second (``fine_octets``, 0..3; resolution
2^-(8*fine_octets) s).  The 1-octet P-field (§3.2.3) says: extension flag 0,
time code ID 001 (the CCSDS epoch 1958-01-01 TAI, not an agency epoch), number
of coarse octets minus one, number of fine octets.  4 + 2 octets gives P = 0x1E.

Time values here are *seconds since 1958-01-01 00:00:00 TAI* as float64.

Leap seconds: :data:`TAI_EPOCH_1958_UNIX` is the epoch on the Unix (UTC) time
scale, -378691200 s, taking TAI = UTC on 1958-01-01 (true by the definition of
TAI's origin to within a few milliseconds).  A UTC Unix time ``t`` after
2017-01-01 is ``t - TAI_EPOCH_1958_UNIX + TAI_MINUS_UTC`` in CUC seconds, with
TAI - UTC = 37 s; :func:`unix_to_cuc_seconds` does exactly that with a fixed
offset, which is right for any date since 2017 (no leap second has been added
since) and is what a lander's on-board clock, which never sees leap seconds,
would carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "CUC_LENGTH",
    "CUC_TIME_CODE_ID_1958",
    "TAI_EPOCH_1958_UNIX",
    "TAI_MINUS_UTC",
    "CucTime",
    "cuc_to_unix_seconds",
    "decode_cuc_batch",
    "encode_cuc_batch",
    "unix_to_cuc_seconds",
]

TAI_EPOCH_1958_UNIX: Final[float] = -378691200.0
#: Octets of the CUC T-field every lunar-hil packet carries in its secondary
#: header: 4 coarse + 2 fine (301.0 §3.2.2, level 1 with the 1958 TAI epoch).
CUC_LENGTH: Final = 6
TAI_MINUS_UTC: Final[float] = 37.0  # IERS Bulletin C: since 2017-01-01
CUC_TIME_CODE_ID_1958: Final = 0b001


def unix_to_cuc_seconds(unix_seconds: float, tai_minus_utc: float = TAI_MINUS_UTC) -> float:
    """UTC Unix time -> seconds since 1958-01-01 TAI (fixed TAI - UTC offset)."""
    return unix_seconds - TAI_EPOCH_1958_UNIX + tai_minus_utc


def cuc_to_unix_seconds(cuc_seconds: float, tai_minus_utc: float = TAI_MINUS_UTC) -> float:
    """Seconds since 1958-01-01 TAI -> UTC Unix time (inverse of :func:`unix_to_cuc_seconds`)."""
    return cuc_seconds + TAI_EPOCH_1958_UNIX - tai_minus_utc


def _check_octets(coarse_octets: int, fine_octets: int) -> None:
    # The basic P-field (no extension octet) encodes 1..4 coarse and 0..3 fine octets.
    if not 1 <= coarse_octets <= 4 or not 0 <= fine_octets <= 3:
        raise LocalProtocolError(
            f"CUC needs 1..4 coarse and 0..3 fine octets, got {coarse_octets}+{fine_octets}"
        )


@dataclass(frozen=True)
class CucTime:
    """One CUC time code: ``coarse`` whole seconds and ``fine`` binary fraction units."""

    coarse: int
    fine: int
    coarse_octets: int = 4
    fine_octets: int = 2

    def __post_init__(self) -> None:
        _check_octets(self.coarse_octets, self.fine_octets)
        if not 0 <= self.coarse < 1 << (8 * self.coarse_octets):
            raise LocalProtocolError(
                f"CUC coarse time {self.coarse} does not fit {self.coarse_octets} octets"
            )
        if not 0 <= self.fine < 1 << (8 * self.fine_octets):
            raise LocalProtocolError(
                f"CUC fine time {self.fine} does not fit {self.fine_octets} octets"
            )

    @property
    def resolution(self) -> float:
        """Seconds per unit of the fine field."""
        return 2.0 ** (-8 * self.fine_octets)

    def pfield(self) -> bytes:
        """The 1-octet P-field (301.0-B §3.2.3): ID 001, octet counts."""
        return bytes(
            ((CUC_TIME_CODE_ID_1958 << 4) | ((self.coarse_octets - 1) << 2) | self.fine_octets,)
        )

    def pack(self, with_pfield: bool = False) -> bytes:
        """The T-field octets, big-endian, optionally preceded by the P-field."""
        value = (self.coarse << (8 * self.fine_octets)) | self.fine
        tfield = value.to_bytes(self.coarse_octets + self.fine_octets, "big")
        return self.pfield() + tfield if with_pfield else tfield

    @classmethod
    def unpack(
        cls,
        data: bytes | bytearray | memoryview,
        *,
        with_pfield: bool = False,
        coarse_octets: int = 4,
        fine_octets: int = 2,
    ) -> CucTime:
        """Parse a T-field (octet counts given) or a P-field + T-field (counts read from it)."""
        raw = bytes(data)
        offset = 0
        if with_pfield:
            if not raw:
                raise RemoteProtocolError("CUC P-field missing", offset=0)
            pfield = raw[0]
            if pfield >> 7:
                raise RemoteProtocolError("CUC P-field extensions are not supported", offset=0)
            if (pfield >> 4) & 0b111 != CUC_TIME_CODE_ID_1958:
                raise RemoteProtocolError(
                    f"CUC time code ID {(pfield >> 4) & 0b111:03b} is not 001 (1958 TAI)",
                    offset=0,
                )
            coarse_octets = ((pfield >> 2) & 0b11) + 1
            fine_octets = pfield & 0b11
            offset = 1
        else:
            _check_octets(coarse_octets, fine_octets)
        size = coarse_octets + fine_octets
        tfield = raw[offset : offset + size]
        if len(tfield) < size:
            raise RemoteProtocolError(
                f"CUC T-field needs {size} octets, got {len(tfield)}", offset=len(raw)
            )
        value = int.from_bytes(tfield, "big")
        return cls(
            coarse=value >> (8 * fine_octets),
            fine=value & ((1 << (8 * fine_octets)) - 1),
            coarse_octets=coarse_octets,
            fine_octets=fine_octets,
        )

    @classmethod
    def from_seconds(cls, seconds: float, coarse_octets: int = 4, fine_octets: int = 2) -> CucTime:
        """Seconds since the 1958 TAI epoch -> CucTime, fraction truncated to the resolution."""
        fields = encode_cuc_batch(np.array([seconds]), coarse_octets, fine_octets)
        return cls.unpack(fields[0].tobytes(), coarse_octets=coarse_octets, fine_octets=fine_octets)

    def to_seconds(self) -> float:
        """Seconds since the 1958 TAI epoch."""
        return self.coarse + self.fine * self.resolution


def encode_cuc_batch(
    seconds: npt.ArrayLike, coarse_octets: int = 4, fine_octets: int = 2
) -> npt.NDArray[np.uint8]:
    """``(N,)`` seconds since 1958 TAI -> ``(N, coarse + fine)`` T-fields (scalar -> ``(c + f,)``).

    The fraction is truncated, not rounded, so a time code never runs ahead of
    the instant it stamps (and never carries into the coarse field).
    """
    _check_octets(coarse_octets, fine_octets)
    values = np.asarray(seconds, dtype=np.float64)
    single = values.ndim == 0
    values = values.reshape(-1)
    if values.size and (
        not np.isfinite(values).all()
        or values.min() < 0
        or values.max() >= float(1 << (8 * coarse_octets))
    ):
        raise LocalProtocolError(f"CUC seconds must be finite and within 0..2^{8 * coarse_octets}")
    coarse = np.floor(values)
    fine = np.floor((values - coarse) * float(1 << (8 * fine_octets)))
    # (values - coarse) < 1, but its product may round up to exactly 2^(8f).
    fine = np.minimum(fine, float((1 << (8 * fine_octets)) - 1))
    packed = (coarse.astype(np.uint64) << np.uint64(8 * fine_octets)) | fine.astype(np.uint64)
    size = coarse_octets + fine_octets
    octets = packed.astype(">u8").view(np.uint8).reshape(-1, 8)[:, 8 - size :]
    out = np.ascontiguousarray(octets)
    return out[0] if single else out


def decode_cuc_batch(
    fields: npt.ArrayLike, coarse_octets: int = 4, fine_octets: int = 2
) -> npt.NDArray[np.float64]:
    """``(N, coarse + fine)`` T-fields -> ``(N,)`` seconds since 1958 TAI (``(c + f,)`` -> scalar)."""
    _check_octets(coarse_octets, fine_octets)
    array = np.asarray(fields)
    size = coarse_octets + fine_octets
    if array.dtype != np.uint8 or array.shape[-1:] != (size,) or array.ndim not in (1, 2):
        raise LocalProtocolError(
            f"CUC T-fields must be uint8 (N, {size}) or ({size},), got {array.dtype} {array.shape}"
        )
    single = array.ndim == 1
    rows = array.reshape(-1, size)
    padded = np.zeros((rows.shape[0], 8), dtype=np.uint8)
    padded[:, 8 - size :] = rows
    packed = padded.view(">u8")[:, 0]
    coarse = (packed >> np.uint64(8 * fine_octets)).astype(np.float64)
    fine = (packed & np.uint64((1 << (8 * fine_octets)) - 1)).astype(np.float64)
    seconds = coarse + fine * 2.0 ** (-8 * fine_octets)
    return seconds[0] if single else seconds

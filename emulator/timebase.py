"""UTC, TAI and the CCSDS time code epoch.

The packet secondary header carries a CCSDS Unsegmented Time Code (CUC) with
the level-1 epoch: 1958 January 1, 00:00:00 TAI (CCSDS 301.0-B-4 3.2.2, P-field
time-code ID 001). TAI runs without leap seconds, so a time stamp is the
civil (UTC) calendar difference from that epoch plus TAI-UTC at that instant:
10 s when the leap-second system began on 1972-01-01, 37 s since 2017-01-01
(IERS Bulletin C). Scenario epochs are UTC; everything on the wire is TAI.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from typing import Final

from .errors import ConfigError

__all__ = [
    "CUC_EPOCH_UTC",
    "LEAP_SECONDS",
    "cuc_seconds",
    "parse_utc",
    "tai_minus_utc_s",
    "utc_to_tai_seconds",
]

#: 1958-01-01 00:00:00 as a UTC calendar instant; the TAI-UTC offset then was
#: 0 s by the definition of the epoch, so calendar arithmetic from here plus
#: TAI-UTC gives TAI seconds since the CUC level-1 epoch.
CUC_EPOCH_UTC: Final = datetime(1958, 1, 1, tzinfo=UTC)

#: (first UTC day in force, TAI-UTC in seconds), IERS Bulletin C history.
LEAP_SECONDS: Final[tuple[tuple[datetime, int], ...]] = tuple(
    (datetime(y, m, 1, tzinfo=UTC), s)
    for y, m, s in (
        (1972, 1, 10), (1972, 7, 11), (1973, 1, 12), (1974, 1, 13), (1975, 1, 14),
        (1976, 1, 15), (1977, 1, 16), (1978, 1, 17), (1979, 1, 18), (1980, 1, 19),
        (1981, 7, 20), (1982, 7, 21), (1983, 7, 22), (1985, 7, 23), (1988, 1, 24),
        (1990, 1, 25), (1991, 1, 26), (1992, 7, 27), (1993, 7, 28), (1994, 7, 29),
        (1996, 1, 30), (1997, 7, 31), (1999, 1, 32), (2006, 1, 33), (2009, 1, 34),
        (2012, 7, 35), (2015, 7, 36), (2017, 1, 37),
    )
)
_STARTS: Final = [start for start, _ in LEAP_SECONDS]


def parse_utc(text: str) -> datetime:
    """An ISO 8601 UTC instant (``2023-04-25T16:40:00Z``; a bare date is midnight).

    Raises :class:`ConfigError` naming the text when it is not one.
    """
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise ConfigError(f"epoch {text!r}: not an ISO 8601 UTC time like 2023-04-25T16:40:00Z") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value.utcoffset() != timedelta(0):
        raise ConfigError(f"epoch {text!r}: must be UTC (Z or +00:00)")
    value = value.astimezone(UTC)
    if value < LEAP_SECONDS[0][0]:
        raise ConfigError(f"epoch {text!r}: before 1972-01-01, when UTC had no whole-second offset to TAI")
    return value


def tai_minus_utc_s(utc: datetime) -> int:
    """TAI-UTC in whole seconds at this UTC instant (1972 or later)."""
    i = bisect.bisect_right(_STARTS, utc) - 1
    if i < 0:
        raise ConfigError(f"{utc.isoformat()}: before 1972-01-01, no leap-second table")
    return LEAP_SECONDS[i][1]


def utc_to_tai_seconds(utc: datetime) -> float:
    """TAI seconds since 1958-01-01 00:00:00 TAI (the CUC level-1 epoch)."""
    return (utc - CUC_EPOCH_UTC).total_seconds() + tai_minus_utc_s(utc)


def cuc_seconds(epoch_utc: datetime, mission_elapsed_s: float) -> float:
    """CUC time (TAI seconds since 1958) of a sim time ``mission_elapsed_s`` after
    the scenario epoch. The sim clock is TAI-uniform, so elapsed time adds directly."""
    return utc_to_tai_seconds(epoch_utc) + mission_elapsed_s

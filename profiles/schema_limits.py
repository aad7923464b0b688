"""What a run can carry: limits every profile meets before ``validate`` says ok.

One rule set for ``profiles validate`` and ``run`` (both load a profile through
:class:`~.schema.Profile`, whose cross checks call :func:`check_run_limits`):
a profile that validates does not fail at run time for its size.

* every number is finite and, except a channel's encoding range, at most
  :data:`MAX_MAGNITUDE` in size (the sim's energy, mass and time sums stay far
  from float overflow);
* at least one band; a band's bit rate at most :data:`MAX_BIT_RATE_BPS`;
  a frame's data field reachable by the 11-bit first header pointer (TM and
  AOS alike: frame_length at most :data:`MAX_FRAME_LENGTH`);
* a space packet fits its 16-bit length field (at most 65536 data bytes);
* an APID's rate at most :data:`MAX_RATE_HZ` and its byte rate at most
  :data:`MAX_APID_BYTES_PER_S` (the sampler holds one engine step of samples).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from .provenance import field_error

#: Largest magnitude of any number in a profile.
MAX_MAGNITUDE = 1e12
#: Fastest channel a band may declare (CADU stream, bit/s).
MAX_BIT_RATE_BPS = 1_000_000_000
#: 11-bit first header pointer: a packet zone of at most 2047 bytes + headers.
MAX_FRAME_LENGTH = 2048
#: Space packet data field: 16-bit length field + 1 (CCSDS 133.0-B-2 4.1.3.5.3).
MAX_PACKET_DATA_LENGTH = 65536
#: Fastest sampling of one APID.
MAX_RATE_HZ = 1000.0
#: Largest byte rate of one APID (packets x packet length per second).
MAX_APID_BYTES_PER_S = 200_000_000


_RANGE_SUFFIXES = (".range.0", ".range.1")


def _walk(value: Any, path: str) -> PydanticCustomError | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float | int):
        if isinstance(value, float) and not math.isfinite(value):
            return field_error(path, f"{value} is not a finite number")
        # A channel's range bounds its encoding (a u64 counter), not the sim.
        if abs(value) > MAX_MAGNITUDE and not path.endswith(_RANGE_SUFFIXES):
            return field_error(path, f"{value:g} is beyond what the run can carry "
                                     f"(|value| <= {MAX_MAGNITUDE:g})")
        return None
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            err = _walk(getattr(value, name), f"{path}.{name}" if path else name)
            if err is not None:
                return err
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            err = _walk(item, f"{path}.{i}")
            if err is not None:
                return err
    elif isinstance(value, dict):
        for key, item in value.items():
            err = _walk(item, f"{path}.{key}")
            if err is not None:
                return err
    return None


def check_run_limits(profile: Any) -> None:
    """Raise a located validation error for the first thing a run cannot carry."""
    err = _walk(profile, "")
    if err is not None:
        raise err
    if not profile.bands:
        raise field_error("bands", "a profile needs at least one band")
    for b, band in enumerate(profile.bands):
        if band.bit_rate_bps > MAX_BIT_RATE_BPS:
            raise field_error(f"bands.{b}.bit_rate_bps",
                              f"{band.bit_rate_bps:g} bit/s is above the {MAX_BIT_RATE_BPS:g} "
                              "bit/s the emulator carries")
        if band.frame_length > MAX_FRAME_LENGTH:
            raise field_error(f"bands.{b}.frame_length",
                              f"{band.frame_type} frame_length must be <= {MAX_FRAME_LENGTH} "
                              f"(11-bit first header pointer), got {band.frame_length}")
    for i, apid in enumerate(profile.apids):
        if apid.user_data_length > MAX_PACKET_DATA_LENGTH:
            raise field_error(f"apids.{i}.science_bytes",
                              f"packet data field of {apid.user_data_length} bytes is above the "
                              f"{MAX_PACKET_DATA_LENGTH} a space packet carries")
        if apid.rate_hz > MAX_RATE_HZ:
            raise field_error(f"apids.{i}.rate_hz",
                              f"{apid.rate_hz:g} Hz is above the {MAX_RATE_HZ:g} Hz the sampler carries")
        if apid.rate_hz * apid.packet_length > MAX_APID_BYTES_PER_S:
            raise field_error(f"apids.{i}.rate_hz",
                              f"{apid.rate_hz:g} Hz x {apid.packet_length} bytes is above "
                              f"{MAX_APID_BYTES_PER_S:g} bytes/s")

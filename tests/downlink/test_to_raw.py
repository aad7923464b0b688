"""Engineering -> raw telemetry conversion: saturating, NaN as 0.0, per type."""

from __future__ import annotations

import numpy as np
import pytest

from lunar_hil.emulator.telemetry import CHANNEL_TYPES, ChannelDef


def _reference(c: ChannelDef, eng: np.ndarray) -> np.ndarray:
    code = CHANNEL_TYPES[c.type]
    if not c.is_integer:
        return eng.astype(code)
    info = np.iinfo(np.dtype(code))
    return np.clip(np.rint((np.nan_to_num(eng) - c.offset) / c.scale), info.min, info.max).astype(code)


@pytest.mark.parametrize("type_", sorted(CHANNEL_TYPES))
@pytest.mark.parametrize(("scale", "offset"), [(1.0, 0.0), (0.01, -40.0), (-0.5, 1e6), (3.0, 7)])
def test_to_raw_saturates_and_maps_nan_like_nan_to_num(type_: str, scale: float, offset: float) -> None:
    c = ChannelDef("x", type_, "", "s", 0.0, 1.0, scale, offset)
    rng = np.random.default_rng(1)
    specials = np.array([np.nan, np.inf, -np.inf, 0.5, 1.5, -2.5, 2.5, 1e308, -1e308, 0.0])
    for eng in (specials, rng.normal(0, 1e3, 500), rng.normal(0, 1e12, 500), np.arange(-300, 300),
                np.empty(0)):
        with np.errstate(over="ignore", invalid="ignore"):
            got, want = c.to_raw(eng), _reference(c, eng)
        assert got.dtype == want.dtype
        assert np.array_equal(got, want, equal_nan=True)

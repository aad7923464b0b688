"""Measuring functions shared by `lunar-hil bench` and the scripts in benchmarks/ (no timed tests)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeats: int, *, warmup: bool = True) -> float:
    """Median wall time of ``repeats`` calls of ``fn``.

    With ``warmup`` one untimed call comes first (table builds, allocations,
    imports), so the figure is the steady state. The machine is shared and
    noisy: medians, never means.
    """
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)

"""The 14-day lunar-night run at --speed max, per profile (issue target: <= 60 s).

Each run is a fresh ``lunar-hil run`` process writing to a file sink, so wall
time includes start-up, and the peak RSS is that process's own (os.wait4).
Flat memory shows as the same peak RSS for a 1-day and a 14-day night.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROFILES = ("apex-1.0", "series-3", "series-2", "hakuto-r-m1", "lupex")
NIGHT_S = 14 * 86400


def run_once(profile: str, duration_s: float, band: str | None = None) -> dict[str, Any]:
    """One ``lunar-night`` run; wall seconds, peak RSS (MB) and the run summary."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "night.bin"
        cmd = [sys.executable, "-m", "lunar_hil.emulator.cli", "run", "--profile", profile,
               "--scenario", "lunar-night", "--speed", "max", "--duration", str(duration_s),
               "--json", "--out", f"file:{out}"]
        if band:
            cmd += ["--band", band]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        if status != 0:
            raise RuntimeError(f"{profile}: lunar-hil run failed: {stderr.strip()[-400:]}")
        summary = json.loads(stdout.strip().splitlines()[-1])
    return {"profile": profile, "duration_s": duration_s, "wall_s": wall,
            "peak_rss_mb": usage.ru_maxrss / 1024.0, "summary": summary}


def measure(quick: bool = False) -> dict[str, Any]:
    """14-day nights for every profile (quick: 1 day, two profiles)."""
    profiles = PROFILES[:2] if quick else PROFILES
    duration = 86400 if quick else NIGHT_S
    rows = [run_once(p, duration) for p in profiles]
    result: dict[str, Any] = {"night_runs": rows}
    if not quick:
        short = run_once(PROFILES[0], 86400)
        result["flat_memory_check"] = {
            "profile": PROFILES[0],
            "peak_rss_mb_1_day": short["peak_rss_mb"],
            "peak_rss_mb_14_days": rows[0]["peak_rss_mb"],
        }
    return result

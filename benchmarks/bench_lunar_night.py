"""14-day lunar-night runs at --speed max for every profile (target: <= 60 s each).

    python benchmarks/bench_lunar_night.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json

from lunar_hil.emulator.perf.night import measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = measure(args.quick)
    if args.json:
        print(json.dumps(result))
        return
    for r in result["night_runs"]:
        s = r["summary"]
        print(f"{r['profile']:12s} {r['duration_s'] / 86400:5.1f} d  wall {r['wall_s']:6.1f} s  "
              f"peak RSS {r['peak_rss_mb']:6.1f} MB  packets {s['packets']:>9,}  "
              f"frames {s['frames']:>8,}  bytes {s['bytes_out']:>12,}")
    if "flat_memory_check" in result:
        f = result["flat_memory_check"]
        print(f"flat memory ({f['profile']}): 1 day {f['peak_rss_mb_1_day']:.1f} MB, "
              f"14 days {f['peak_rss_mb_14_days']:.1f} MB")


if __name__ == "__main__":
    main()

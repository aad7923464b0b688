"""Lander simulation speed (medians; see emulator.perf.sim).

Usage: .venv/bin/python benchmarks/bench_sim.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json

from lunar_hil.emulator.perf.sim import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(quick=args.quick)
    if args.json:
        print(json.dumps(result))
        return
    for name, value in result.items():
        print(f"{name:34s} {value:8.3f} s (median wall time)")


if __name__ == "__main__":
    main()

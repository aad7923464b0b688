"""VC multiplexer and packet demultiplexer throughput (medians, one core).

1 KB packets, 1109-byte packet zones (1115-byte TM frames), clean link.
Usage: python benchmarks/bench_mux.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json

from lunar_hil.emulator.perf.mux import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller samples, fewer repeats")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"mux/demux, 1 KB packets, 1109-byte zones (median of {int(result['repeats'])}):")
    print(f"  mux   (push + pull) {result['mux_mb_s']:>8} MB/s  {result['mux_mbit_s']:>8} Mbit/s")
    print(
        f"  demux (feed)        {result['demux_mb_s']:>8} MB/s  {result['demux_mbit_s']:>8} Mbit/s"
    )


if __name__ == "__main__":
    main()

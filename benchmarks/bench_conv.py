"""Convolutional encoder / Viterbi decoder throughput (medians; see emulator.perf.conv).

Usage: .venv/bin/python benchmarks/bench_conv.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json

from lunar_hil.emulator.perf.conv import measure, measure_receiver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller stream, fewer repeats")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(quick=args.quick)
    receiver = measure_receiver(quick=args.quick)
    if args.json:
        print(json.dumps({**result, **receiver}))
        return
    for name, value in result.items():
        print(f"{name:24s} {value:10.2f} Mbit/s (median, information bits)")
    print(f"{'receiver_conv_coded_mbps':24s} {receiver['receiver_conv_coded_mbps']:10.2f} "
          f"Mbit/s (median, channel symbols; {receiver['frames_ok']:.0f} frames)")


if __name__ == "__main__":
    main()

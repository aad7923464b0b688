"""Encode a long channel stream in bounded chunks and report the peak RSS.

    python benchmarks/bench_memory.py [--quick] [--gigabytes N]

Issue target: a 1 GB stream with RSS under 200 MB. Runs in its own process so
the peak is the encoder's alone.
"""

from __future__ import annotations

import argparse

from lunar_hil.emulator.perf.chain import measure_stream_memory


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="128 MB instead of 1 GB")
    ap.add_argument("--gigabytes", type=float, default=1.0)
    args = ap.parse_args()
    total = (128 << 20) if args.quick else int(args.gigabytes * (1 << 30))
    r = measure_stream_memory(total)
    print(f"encoded {r['stream_bytes'] / 2**20:,.0f} MiB of CADUs in {r['stream_seconds']:.1f} s "
          f"({r['stream_coded_mbps']:,.0f} Mbit/s); peak RSS {r['peak_rss_mb']:.1f} MB")


if __name__ == "__main__":
    main()

"""RS(255,223) throughput: ours vs libfec, galois and reedsolo (medians, one core).

Usage: python benchmarks/bench_rs.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json

from lunar_hil.emulator.perf.rs import measure_decode, measure_encode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller samples, fewer repeats")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    enc = measure_encode(args.quick)
    dec = measure_decode(args.quick)
    if args.json:
        print(json.dumps({"encode": enc, "decode": dec}, indent=2))
        return

    def fmt(value: object) -> str:
        return "n/a" if value is None else f"{value}"

    print(f"RS(255,223) encode, info MB/s in (median of {enc['repeats']}):")
    print(
        f"  ours I=1          {fmt(enc['ours_i1_MBps']):>10}   x{fmt(enc['ratio_i1_vs_libfec'])} libfec"
    )
    print(
        f"  ours I=5          {fmt(enc['ours_i5_MBps']):>10}   x{fmt(enc['ratio_i5_vs_libfec'])} libfec"
    )
    print(f"  libfec (ctypes)   {fmt(enc['libfec_MBps']):>10}")
    print(f"  galois            {fmt(enc['galois_MBps']):>10}")
    print(f"  reedsolo          {fmt(enc['reedsolo_MBps']):>10}")
    print(f"RS(255,223) decode, codeblock MB/s in (median of {dec['repeats']}):")
    print(
        f"  ours clean I=1    {fmt(dec['clean_MBps']):>10}   libfec {fmt(dec['libfec_clean_MBps'])}"
    )
    print(f"  ours clean I=5    {fmt(dec['clean_i5_MBps']):>10}")
    print(
        f"  ours SER 1e-3     {fmt(dec['ser_1e-3_MBps']):>10}   libfec {fmt(dec.get('libfec_ser_1e-3_MBps'))}"
    )
    print(
        f"  ours SER 1e-2     {fmt(dec['ser_1e-2_MBps']):>10}   ({dec['uncorrectable_1e-2']} uncorrectable)"
    )


if __name__ == "__main__":
    main()

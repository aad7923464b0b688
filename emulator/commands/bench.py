"""``lunar-hil bench``: codec throughput figures, medians, one core.

Reference runs happen in the same process (libfec through ctypes when
Debian's libfec0 is installed; galois and reedsolo when importable), so the
ratios hold on a shared, noisy machine even when the absolute figures move.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bench", help="measure codec throughput (medians, one core)",
        description="Codec throughput as medians on one core: RS encode/decode, the full "
        "encode chain and the receiver, with libfec/galois/reedsolo references run in the "
        "same process.",
        epilog="examples:\n"
        "  lunar-hil bench --quick\n"
        "  lunar-hil bench --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="small samples: a smoke run (CI)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def _machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "numpy": __import__("numpy").__version__,
    }


def collect(quick: bool) -> dict[str, Any]:
    """Every figure of the bench, keyed as the command-line contract fixes them, plus details."""
    from ..perf import chain
    from ..perf import rs as rs_perf

    out: dict[str, Any] = {}
    enc = rs_perf.measure_encode(quick)
    out.update({f"rs_{k}" if not k.startswith("rs_") else k: v for k, v in enc.items()})
    dec = rs_perf.measure_decode(quick)
    out.update({f"rs_decode_{k}" if not k.startswith("rs_") else k: v for k, v in dec.items()})
    out.update(chain.measure_encode_chain(quick))
    clean = chain.measure_receiver(quick, ser=0.0)
    out["decode_coded_mbps"] = clean["decode_coded_mbps"]
    noisy = chain.measure_receiver(quick, ser=1e-3)
    out["decode_coded_mbps_ser1e-3"] = noisy["decode_coded_mbps"]
    out["decode_ser1e-3_rs_corrected_symbols"] = noisy["rs_corrected_symbols"]
    out["decode_ser1e-3_rs_uncorrectable"] = noisy["rs_uncorrectable"]
    if "rs_info_mbps" not in out:
        raise RuntimeError("emulator.perf.rs.measure_encode must report rs_info_mbps")
    out["machine"] = _machine()
    out["quick"] = quick
    return out


def run(args: argparse.Namespace) -> int:
    figures = collect(args.quick)
    if args.json:
        print(json.dumps(figures))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="lunar-hil bench (medians, one core" + (", quick)" if args.quick else ")"))
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        if key == "machine":
            continue
        if isinstance(value, float):
            value = f"{value:,.2f}"
        table.add_row(key, str(value))
    Console(file=sys.stdout).print(table)
    m = figures["machine"]
    print(f"machine: {m['machine']}, {m['cpus']} cpus, python {m['python']}, numpy {m['numpy']}")
    return 0

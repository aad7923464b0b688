"""``lunar-hil plot``: telemetry traces from ``decode --params-out`` files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..plotting import PRESETS, plot


def register(sub: Any) -> None:
    p = sub.add_parser(
        "plot", help="plot telemetry from decode --params-out files",
        description="Plot telemetry traces (PNG, matplotlib Agg) from one or more "
        "`lunar-hil decode --params-out` files; several files overlay on the same axes. "
        f"Presets: {', '.join(f'{k} ({len(v)} panels)' for k, v in PRESETS.items())}. "
        "A preset parameter missing from the data is skipped with a note.",
        epilog="examples:\n"
        "  lunar-hil run --profile hakuto-r-m1 --scenario descent-lrf-anomaly --speed max "
        "--out file:m1.cadu\n"
        "  lunar-hil decode --profile hakuto-r-m1 m1.cadu --params-out m1.jsonl\n"
        "  lunar-hil plot m1.jsonl --preset descent --out m1.png\n"
        "  lunar-hil plot m1.jsonl --params GNC_ALTITUDE_M,GNC_ALTITUDE_EST_M",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="PARAMS.jsonl", help="decode --params-out file(s)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--params", metavar="P1,P2,...", help="parameter names, one panel each")
    group.add_argument("--preset", choices=sorted(PRESETS), help="a named set of panels")
    p.add_argument("--out", metavar="FILE.png",
                   help="output image (default: the first file's name with .png)")
    p.add_argument("--title", help="figure title")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    out = args.out or str(Path(args.files[0]).with_suffix(".png"))
    params = [x for x in args.params.split(",") if x] if args.params else None
    for note in plot(args.files, out, params=params, preset=args.preset, title=args.title):
        print(f"lunar-hil plot: {note}", file=sys.stderr)
    print(out)
    return 0

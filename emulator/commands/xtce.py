"""``lunar-hil xtce``: the profile's XTCE 1.2 telemetry and telecommand dictionary."""

from __future__ import annotations

import argparse
from typing import Any

from lunar_hil.profiles.loader import load_profile

from ..ground.output import write_text_or_stdout
from ..ground.xtce import build_xtce


def register(sub: Any) -> None:
    p = sub.add_parser(
        "xtce", help="write the profile's XTCE 1.2 dictionary",
        description="Write an XTCE 1.2 dictionary of every packet and parameter of a profile: "
        "units, calibrations, enumerations, the CCSDS primary header, the CUC time "
        "(4+2 octets, epoch 1958 TAI), one container per APID, and the telecommands.",
        epilog="example: lunar-hil xtce apex-1.0 --out apex-1.0.xtce.xml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("profile", metavar="ID|FILE", help="profile id or YAML file")
    p.add_argument("--out", metavar="FILE", help="output file (default: stdout)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    write_text_or_stdout(build_xtce(load_profile(args.profile)), args.out)
    return 0

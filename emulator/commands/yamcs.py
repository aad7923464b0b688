"""``lunar-hil yamcs``: a Yamcs instance configuration (links + XTCE MDB) for a profile."""

from __future__ import annotations

import argparse
from typing import Any

from lunar_hil.profiles.loader import load_profile

from ..ground.output import write_tree
from ..ground.yamcs import yamcs_files


def register(sub: Any) -> None:
    p = sub.add_parser(
        "yamcs", help="write a Yamcs instance configuration for a profile",
        description="Write etc/yamcs.INSTANCE.yaml (a UDP frame link per band with every VC "
        "including idle, the AOS keys, GenericPacketPreprocessor with the CUC 4+2 TAI time, "
        "a CLTU uplink) and mdb/PROFILE.xtce.xml (the XTCE dictionary) into a folder.",
        epilog="example:\n"
        "  lunar-hil yamcs apex-1.0 --out yamcs-apex\n"
        "  lunar-hil run --profile apex-1.0 --band X --out 'udp://127.0.0.1:10018?layer=frames'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("profile", metavar="ID|FILE", help="profile id or YAML file")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder (created)")
    p.add_argument("--instance", help="Yamcs instance name (default: from the profile id)")
    p.add_argument("--host", default="127.0.0.1",
                   help="host of the emulator's uplink, for the CLTU link (default 127.0.0.1)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    files = yamcs_files(load_profile(args.profile), args.instance, args.host)
    for path in write_tree(args.out, files):
        print(path)
    return 0

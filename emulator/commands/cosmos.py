"""``lunar-hil cosmos``: an OpenC3 COSMOS plugin (target + TCP interface) for a profile."""

from __future__ import annotations

import argparse
from typing import Any

from lunar_hil.profiles.loader import load_profile

from ..ground.cosmos import DEFAULT_PACKETS_PORT, cosmos_files
from ..ground.output import write_tree


def register(sub: Any) -> None:
    p = sub.add_parser(
        "cosmos", help="write an OpenC3 COSMOS target and interface for a profile",
        description="Write an OpenC3 COSMOS plugin tree: targets/TARGET/cmd_tlm (TELEMETRY per "
        "APID, COMMAND per telecommand), target.txt, and plugin.txt with a TCP client "
        "interface (LENGTH protocol) for `run --out tcp://HOST:PORT?layer=packets`.",
        epilog="example:\n"
        "  lunar-hil cosmos apex-1.0 --out cosmos-apex --port 10015\n"
        "  lunar-hil run --profile apex-1.0 --out 'tcp://0.0.0.0:10015?layer=packets'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("profile", metavar="ID|FILE", help="profile id or YAML file")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder (created)")
    p.add_argument("--host", default="127.0.0.1",
                   help="host the COSMOS interface connects to (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PACKETS_PORT,
                   help=f"TCP port of the packets output (default {DEFAULT_PACKETS_PORT})")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    for path in write_tree(args.out, cosmos_files(load_profile(args.profile), args.host,
                                                  args.port)):
        print(path)
    return 0

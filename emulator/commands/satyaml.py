"""``lunar-hil satyaml``: the gr-satellites SatYAML of one band."""

from __future__ import annotations

import argparse
from typing import Any

from lunar_hil.profiles.loader import load_profile

from ..ground.output import write_text_or_stdout
from ..ground.satyaml import satyaml_text


def register(sub: Any) -> None:
    p = sub.add_parser(
        "satyaml", help="write the gr-satellites SatYAML of one band",
        description="Write the gr-satellites SatYAML for one band: framing (CCSDS Reed-Solomon, "
        "CCSDS Concatenated or CCSDS Uncoded), frame size, RS interleaving and basis, NRZ-M "
        "precoding, scrambler, and the baud rate (the channel symbol rate). A band with a "
        "convolutional code and no RS has no SatYAML framing: exit 2 with the gr-satellites "
        "Python API to use instead.",
        epilog="example:\n"
        "  lunar-hil satyaml apex-1.0 --band S --out apex-s.yml\n"
        "  lunar-hil run --profile apex-1.0 --band S --speed max --duration 10 \\\n"
        "      --out 'iq:apex-s.cf32?samp_rate=512000'\n"
        "  gr_satellites apex-s.yml --rawfile apex-s.cf32 --iq --samp_rate 512000 --hexdump",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("profile", metavar="ID|FILE", help="profile id or YAML file")
    p.add_argument("--band", help="S, X or Ka (default X, else the profile's first band)")
    p.add_argument("--out", metavar="FILE", help="output file (default: stdout)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    text = satyaml_text(load_profile(args.profile), args.band)
    write_text_or_stdout(text.encode(), args.out)
    return 0

"""``lunar-hil links``: relay and direct-to-Earth visibility, light time and
link margins of a profile over a span of days, from real geometry."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from ..errors import ConfigError

#: Longest span ``links`` computes (a year at a 30 s step is ~1M steps).
MAX_DAYS = 366.0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "links", help="relay and Earth visibility, light time and link margins of a profile",
        description="Propagate the profile's relays (Moon J2, Earth and Sun pull) and place the "
        "ground stations (skyfield, DE421 shipped offline), then report per relay, station and "
        "band: visibility fractions, windows, one-way light time and link margins.",
        epilog="example:\n  lunar-hil links apex-1.0 --days 28 --json\n"
        "  lunar-hil links lupex --epoch 2027-03-01T00:00:00Z --plot lupex-links.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("profile", metavar="ID|FILE", help="profile id or YAML file")
    p.add_argument("--days", type=float, default=28.0, help="span in days (default 28)")
    p.add_argument("--epoch", metavar="UTC",
                   help="start, ISO 8601 UTC (default: the default scenario epoch, 2027-01-01Z)")
    p.add_argument("--step", type=float, default=30.0, metavar="SECONDS",
                   help="grid step in seconds (default 30)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw the visibility timeline and margins")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lunar_hil.profiles.loader import load_profile

    from ..links import LinkSchedule, links_summary, links_table, plot_links
    from ..sim.scenario import DEFAULT_EPOCH_UTC
    from ..timebase import parse_utc

    if not (math.isfinite(args.days) and 0 < args.days <= MAX_DAYS):
        raise ConfigError(f"--days {args.days:g}: must be > 0 and <= {MAX_DAYS:g}")
    if not (math.isfinite(args.step) and 1.0 <= args.step <= 3600.0):
        raise ConfigError(f"--step {args.step:g}: must be between 1 and 3600 seconds")
    epoch = DEFAULT_EPOCH_UTC if args.epoch is None else parse_utc(args.epoch)
    if not 1900 <= epoch.year <= 2050:
        raise ConfigError(f"--epoch {args.epoch}: outside DE421 (1900-2050)")
    if args.plot is not None and not Path(args.plot).parent.resolve().is_dir():
        raise ConfigError(f"--plot {args.plot}: directory does not exist")
    profile = load_profile(args.profile)
    schedule = LinkSchedule.from_profile(profile, epoch, args.days * 86400.0, args.step)
    summary = links_summary(schedule, profile_id=profile.id, site_name=profile.site.name)
    if args.plot is not None:
        plot_links(schedule, Path(args.plot),
                   title=f"{profile.name}: {profile.site.name}, {args.days:g} days from "
                   f"{summary['epoch']}")
    if args.json:
        print(json.dumps(summary))
    else:
        print(links_table(summary))
    return 0

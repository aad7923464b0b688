"""``lunar-hil profiles list|show|validate``: inspect and check lander profiles."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from lunar_hil.profiles.loader import list_profiles, load_profile, validate_file

from ..errors import ProfileError


def register(subparsers: Any) -> None:
    """Add the ``profiles`` command and its subcommands."""
    parser = subparsers.add_parser(
        "profiles", help="list, show and validate lander profiles",
        description="List the shipped lander profiles, show one resolved (extends applied), "
        "or validate a profile file (exit 2 with one line per problem).",
        epilog="examples:\n"
        "  lunar-hil profiles list\n"
        "  lunar-hil profiles show apex-1.0 --json\n"
        "  lunar-hil profiles validate examples/profiles/apex-1.0-ka-heavy.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="profiles_command", metavar="SUBCOMMAND")
    sub.required = True

    p_list = sub.add_parser("list", help="the shipped profiles",
                            epilog="example: lunar-hil profiles list --json")
    p_list.add_argument("--json", action="store_true", help="a JSON array of {id, name, ...}")
    p_list.set_defaults(handler=_list)

    p_show = sub.add_parser("show", help="the validated, resolved profile (extends applied)",
                            epilog="example: lunar-hil profiles show lupex --json")
    p_show.add_argument("profile", metavar="ID|FILE")
    p_show.add_argument("--json", action="store_true", help="JSON instead of YAML")
    p_show.set_defaults(handler=_show)

    p_val = sub.add_parser("validate", help="check a profile file; exit 2 with one line per error",
                           epilog="example: lunar-hil profiles validate "
                           "examples/profiles/apex-1.0-ka-heavy.yaml")
    p_val.add_argument("file", metavar="FILE")
    p_val.set_defaults(handler=_validate)


def _list(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = [
        {
            "id": p.id,
            "name": p.name,
            "operator": p.mission.operator,
            "launch_year": p.mission.launch_year,
            "site": p.site.name,
            "bands": [b.name for b in p.bands],
            "rovers": [r.id for r in p.rovers],
        }
        for p in list_profiles()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="lunar-hil profiles")
    for column in ("id", "name", "launch", "site", "bands", "rovers"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"],
            row["name"],
            str(row["launch_year"]),
            row["site"],
            " ".join(row["bands"]),
            " ".join(row["rovers"]) or "-",
        )
    Console(soft_wrap=True).print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    data = load_profile(args.profile).to_json_dict()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        text = yaml.safe_dump(_drop_empty(data), sort_keys=False, allow_unicode=True, width=100)
        sys.stdout.write(text)
    return 0


def _drop_empty(data: Any) -> Any:
    """The YAML view leaves out null values and empty provenance maps."""
    if isinstance(data, dict):
        return {
            k: _drop_empty(v)
            for k, v in data.items()
            if v is not None and not (k in ("field_sources", "ranges") and not v)
        }
    if isinstance(data, list):
        return [_drop_empty(v) for v in data]
    return data


def _validate(args: argparse.Namespace) -> int:
    errors = validate_file(args.file)
    if errors:
        raise ProfileError(errors)
    print(f"{args.file}: ok")
    return 0

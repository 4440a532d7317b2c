"""`ntkbench list` and `ntkbench new-plugin`: the plugins installed, and a new one's package skeleton."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_commands(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser("list", help="show every registered plugin and where it comes from")
    listing.set_defaults(handler=_list)

    new_plugin = commands.add_parser("new-plugin", help="write a plugin package skeleton with a passing test")
    new_plugin.add_argument("name", help="plugin name (lower case, digits, underscores)")
    new_plugin.add_argument("--kind", choices=["learner", "dataset", "architecture"], required=True)
    new_plugin.add_argument("--dir", default=".", help="where to create ntkbench-NAME/ (default: here)")
    new_plugin.set_defaults(handler=_new_plugin)


def _list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from ..api import ENTRY_POINT_GROUPS, load_all

    rows = []
    broken = 0
    for kind in ENTRY_POINT_GROUPS:
        plugins = load_all(kind)
        for name, entry in plugins.entries.items():
            if name in plugins.usable:
                api, status = plugins.usable[name].api_version, "ok"
            else:
                api, status, broken = "?", f"BROKEN: {plugins.broken[name]}", broken + 1
            origin = "built-in" if entry.builtin else "third-party"
            rows.append([kind, name, f"{entry.distribution} {entry.version}", origin, api, entry.target, status])
    headers = ["kind", "name", "distribution", "origin", "api", "target", "status"]
    print(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    if broken:
        print(f"\n{broken} plugin(s) failed to load; the others are usable.", file=sys.stderr)
    return 0


def _new_plugin(args: argparse.Namespace) -> int:
    from ._scaffold import write_plugin_package

    root = write_plugin_package(args.name, args.kind, Path(args.dir))
    print(f"wrote {root}: install it with `pip install -e {root}`, then `ntkbench list` and `pytest {root}/tests`")
    return 0

"""`ntkbench list`, `ntkbench check-plugin` and `ntkbench new-plugin`: the plugins installed, whether
one keeps the plugin contract, and a new one's package skeleton."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..api import cache_root
from ._spec import add_trust_plugins

CHECKS_FILE = "plugin-checks.json"
"""Under the cache directory: the last `check-plugin` result of each plugin version (by source)."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser("list", help="show every registered plugin and where it comes from")
    listing.add_argument("--spec", metavar="SPEC", help="also the plugins of this spec's plugins: list (with --trust-plugins)")
    add_trust_plugins(listing)
    listing.set_defaults(handler=_list)

    check = commands.add_parser("check-plugin", help="run a plugin on a tiny problem and check the plugin contract")
    check.add_argument("name", help="the plugin's name, as a spec names it")
    check.add_argument("--kind", choices=["learner", "dataset", "architecture"], help="needed when several kinds share the name")
    check.add_argument("--options", metavar="YAML", default="{}", help="the plugin's options, e.g. '{ridge: 0.1}' (default: its defaults)")
    check.add_argument("--plugin", action="append", default=[], metavar="FILE", dest="plugins",
                       help="a plugin file (or module) that defines NAME, as a spec's plugins: names it; repeatable")
    check.set_defaults(handler=_check_plugin)

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
    checked = _read_checks()
    local = {kind: {} for kind in ENTRY_POINT_GROUPS}
    if args.spec:
        from ..api import load_local
        from ..spec import load_spec

        spec = load_spec(args.spec, trust_plugins=args.trust_plugins)  # exit 2 for a plugin file that does not load
        local = load_local(list(spec.plugins), Path(args.spec).resolve().parent)
    for kind in ENTRY_POINT_GROUPS:
        plugins = load_all(kind)
        for name, entry in local[kind].items():
            plugin = entry.load()
            contract = checked.get(_check_key(kind, name, entry, plugin), "not checked")
            rows.append([kind, name, f"local {entry.version}", f"file of {args.spec}", plugin.api_version, contract, entry.source, "ok"])
        for name, entry in plugins.entries.items():
            contract = "—"
            if name in plugins.usable:
                api, status = plugins.usable[name].api_version, "ok"
                contract = checked.get(_check_key(kind, name, entry, plugins.usable[name]), "not checked")
            else:
                api, status, broken = "?", f"BROKEN: {plugins.broken[name]}", broken + 1
            origin = "built-in" if entry.builtin else "third-party"
            rows.append([kind, name, f"{entry.distribution} {entry.version}", origin, api, contract, entry.target, status])
    rows += _tracker_rows()
    headers = ["kind", "name", "distribution", "origin", "api", "contract", "target", "status"]
    print(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    if broken:
        print(f"\n{broken} plugin(s) failed to load; the others are usable.", file=sys.stderr)
    return 0


def _tracker_rows() -> list[list[str]]:
    """A row per registered tracker (`ntkbench run --tracker NAME`), with whether its backend is installed."""
    import importlib.metadata

    from ..api import TRACKER_GROUP, Tracker

    rows = []
    for entry in sorted(importlib.metadata.entry_points(group=TRACKER_GROUP), key=lambda entry: entry.name):
        dist = entry.dist
        distribution = f"{dist.name} {dist.version}" if dist is not None else "?"
        origin = "built-in" if dist is not None and dist.name == "ntkbench" else "third-party"
        try:
            tracker = entry.load()
        except Exception as error:  # a third party's module that does not import: listed, not raised
            rows.append(["tracker", entry.name, distribution, origin, "—", "—", entry.value, f"BROKEN: {error}"])
            continue
        if not (isinstance(tracker, type) and issubclass(tracker, Tracker)):
            status = "BROKEN: not a subclass of ntkbench.Tracker"
        elif (missing := tracker.missing()) is not None:
            status = f"backend not installed: pip install 'ntkbench[{tracker.extra}]'" if tracker.extra else f"needs {missing}"
        else:
            status = "ok"
        rows.append(["tracker", entry.name, distribution, origin, "—", "—", entry.value, status])
    return rows


def _check_key(kind: str, name: str, entry: Any, plugin: type) -> str:
    """A plugin version: its distribution, version and the fingerprint of its source."""
    from ..storage import source_of

    return f"{kind}:{name}:{entry.distribution}:{entry.version}:{source_of(entry.distribution, plugin.__module__) or ''}"


def _read_checks() -> dict[str, str]:
    try:
        found = json.loads((cache_root() / CHECKS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _remember_check(key: str, result: str) -> None:
    """Keep the result for `ntkbench list`; a cache that cannot be written is only reported."""
    from ..storage import write_json_atomically

    checks = _read_checks()
    checks[key] = result
    try:
        write_json_atomically(cache_root() / CHECKS_FILE, checks)
    except OSError as error:
        print(f"note: cannot remember the result in {cache_root()}: {error.strerror or error}", file=sys.stderr)


def _check_plugin(args: argparse.Namespace) -> int:
    import yaml

    from ..api import ENTRY_POINT_GROUPS, InputError, PluginLoadError, load_local, registered
    from ..spec import suggest
    from ..testing import check_plugin

    kinds = [args.kind] if args.kind else list(ENTRY_POINT_GROUPS)
    try:
        local = load_local(args.plugins, Path.cwd())
    except PluginLoadError as error:
        raise InputError(str(error)) from None
    available = {kind: {**registered(kind), **local[kind]} for kind in kinds}
    found = [(kind, available[kind][args.name]) for kind in kinds if args.name in available[kind]]
    if not found:
        known = sorted({name for kind in kinds for name in available[kind]})
        raise InputError(f"no {args.kind or 'plugin'} named {args.name!r}{suggest(args.name, known)}; `ntkbench list` shows them")
    if len(found) > 1:
        raise InputError(f"{args.name!r} names a {' and a '.join(kind for kind, _ in found)}; add --kind")
    try:
        options = yaml.safe_load(args.options)
    except yaml.YAMLError as error:
        raise InputError(f"--options {args.options!r}: not YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(options, dict):
        raise InputError(f"--options {args.options!r}: expected a mapping of option names to values, e.g. '{{ridge: 0.1}}'")
    kind, entry = found[0]
    plugin = entry.load()
    report = check_plugin(plugin, options)
    print(report)
    needs_options = [check.name for check in report.checks if not check.ok] == ["options"]
    result = "passes" if report.ok else "needs options" if needs_options and not options else "FAILS"
    if options:  # the list shows the last result, and the options it was checked with
        result += " with " + yaml.safe_dump(options, default_flow_style=True, width=10**6).strip()
    _remember_check(_check_key(kind, args.name, entry, plugin), result)
    return 0 if report.ok else 1


def _new_plugin(args: argparse.Namespace) -> int:
    from ._scaffold import write_plugin_package

    root = write_plugin_package(args.name, args.kind, Path(args.dir))
    print(f"wrote {root}: install it with `pip install -e {root}`, then `ntkbench list` and `pytest {root}/tests`")
    return 0

"""`ntkbench data list|fetch|verify`: the files of every dataset plugin that reads files."""

from __future__ import annotations

import argparse
import sys

from ..api import FileStore


def add_commands(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="list, fetch and verify dataset files")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    data_commands.add_parser("list", help="every dataset: present or not, where, size").set_defaults(handler=_list)
    fetch = data_commands.add_parser("fetch", help="download a dataset's missing files, verified")
    fetch.add_argument("name")
    fetch.set_defaults(handler=_fetch)
    verify = data_commands.add_parser("verify", help="re-check the checksums of the files on disk")
    verify.add_argument("name", nargs="?")
    verify.set_defaults(handler=_verify)


def _dataset_stores(name: str | None) -> dict[str, FileStore | None]:
    """File stores of every dataset plugin (or of the one named), by name; `None` for generated data."""
    from ..api import InputError, load_all
    from ..spec import suggest

    plugins = load_all("dataset")
    if name is not None and name not in plugins.entries:
        raise InputError(f"unknown dataset {name!r}{suggest(name, plugins.entries)}; known: {', '.join(plugins.entries)}")
    if name in plugins.broken:
        raise plugins.broken[name]
    for error in plugins.broken.values():
        print(f"warning: {error}", file=sys.stderr)
    return {dataset: plugin.file_store() for dataset, plugin in plugins.usable.items() if name is None or dataset == name}


def _list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    rows = []
    for name, store in _dataset_stores(None).items():
        if store is None:
            rows.append([name, "generated", "-", "-"])
            continue
        located = [store.locate(file) for file in store.files]
        present = sum(path is not None for path in located)
        status = "present" if present == len(located) else ("partial" if present else "missing")
        where = sorted({str(path.parent) for path in located if path is not None}) or [str(store.download_dir)]
        size = sum(path.stat().st_size for path in located if path is not None)
        rows.append([name, f"{status} ({present}/{len(located)} files)", ", ".join(where), f"{size / 1e6:.1f} MB"])
    print(tabulate(rows, headers=["dataset", "status", "where", "size"], tablefmt="simple"))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    store = _dataset_stores(args.name).get(args.name)
    if store is None:
        print(f"{args.name} is generated on the fly; nothing to fetch")
        return 0
    for name, path in store.ensure().items():
        print(f"{name}: {path} (verified)")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from ..api import verify_file

    failures = 0
    for dataset, store in _dataset_stores(args.name).items():
        for file in store.files if store is not None else ():
            path = store.locate(file)
            if path is None:
                print(f"{dataset}: {file.name}: missing")
                continue
            problem = verify_file(path, file)
            failures += problem is not None
            print(f"{dataset}: {path}: {'ok' if problem is None else 'FAILED: ' + problem}")
    return 1 if failures else 0

"""`ntkbench leaderboard`: fit the exponents of results directories and render the leaderboard;
`ntkbench export`: a results directory's records as one table file; `ntkbench show-failure`: why a
cell failed; `ntkbench kernels`: what a kernel store holds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PUBLISHED_RESULTS = Path("leaderboard/results")
PUBLISHED_LEADERBOARD = Path("leaderboard/README.md")


def add_commands(commands: argparse._SubParsersAction) -> None:
    leaderboard = commands.add_parser("leaderboard", help="fit exponents and render the Markdown leaderboard")
    leaderboard.add_argument(
        "--results", nargs="+", metavar="DIR", help=f"results directories (default: every one under {PUBLISHED_RESULTS}/)"
    )
    leaderboard.add_argument(
        "--out", metavar="FILE",
        help=f"Markdown file (default: {PUBLISHED_LEADERBOARD}, unless only --html is given)",
    )
    leaderboard.add_argument(
        "--html", metavar="FILE", help="also (or, without --out, only) write one self-contained HTML page: plots inlined, tables sortable"
    )
    leaderboard.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when FILE is not what the results render"
    )
    leaderboard.set_defaults(handler=_leaderboard)

    export = commands.add_parser("export", help="write a results directory's records as one CSV, parquet or JSON Lines file")
    export.add_argument("results", metavar="DIR", help="results directory (written by ntkbench run)")
    export.add_argument("--format", choices=["csv", "parquet", "jsonl"], default="csv", help="file format (default: csv)")
    export.add_argument("--out", metavar="FILE", help="output file (default: DIR/records.FORMAT)")
    export.set_defaults(handler=_export)

    failure = commands.add_parser("show-failure", help="the reason and stored traceback of a failed cell")
    failure.add_argument("results", metavar="DIR", help="results directory")
    failure.add_argument("cell", nargs="?", metavar="CELL",
                         help="the cell, as ntkbench run names it: 'LEARNER [width=W] n=N seed=S' (default: list the failed cells)")
    failure.set_defaults(handler=_show_failure)

    kernels = commands.add_parser("kernels", help="list the kernels in a kernel store: what they are, tiles stored, size on disk")
    kernels.add_argument("store", metavar="DIR", help="a kernel store (--kernel-store), or a results directory (its kernels/)")
    kernels.set_defaults(handler=_kernels)


def _leaderboard(args: argparse.Namespace) -> int:
    from ..api import InputError
    from ..report import stale_pages, write_leaderboard

    results = args.results or sorted(path for path in PUBLISHED_RESULTS.glob("*") if path.is_dir())
    if not results:
        raise InputError(f"no results: pass --results DIR... (nothing under {PUBLISHED_RESULTS}/)")
    if args.check and args.html:
        raise InputError("--check compares the Markdown leaderboard; leave out --html")
    if args.html:
        from ..report import write_html_leaderboard

        write_html_leaderboard(results, args.html)
        print(f"HTML leaderboard written to {args.html}")
        if args.out is None:
            return 0
    args.out = args.out or str(PUBLISHED_LEADERBOARD)
    if args.check:
        stale = stale_pages(results, args.out)
        if not stale:
            print(f"{args.out} and its spec pages are what their {len(results)} results director{'y' if len(results) == 1 else 'ies'} "
                  "render")
            return 0
        print(
            f"ntkbench: {len(stale)} page(s) of {args.out} are stale or missing ({', '.join(map(str, stale))}): they are "
            f"not what {', '.join(map(str, results))} render. Regenerate them with: ntkbench leaderboard --out {args.out}",
            file=sys.stderr,
        )
        return 1
    write_leaderboard(results, args.out)
    print(f"leaderboard written to {args.out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from ..results import export_records

    path = export_records(args.results, args.format, args.out)
    print(f"the records of {args.results} written to {path} ({args.format}, one row per cell)")
    return 0


def _parse_cell(text: str) -> tuple[str, dict[str, int]]:
    from ..api import InputError

    words = text.replace("/", " ").split()
    if not words:
        raise InputError("CELL is empty; name it as 'LEARNER n=N seed=S'")
    fields = {}
    for word in words[1:]:
        key, equals, value = word.partition("=")
        if not equals or key not in {"n", "seed", "width"} or not value.isdigit():
            raise InputError(f"CELL {text!r}: {word!r} is not n=N, seed=S or width=W")
        fields[key] = int(value)
    return words[0], fields


def _show_failure(args: argparse.Namespace) -> int:
    from ..api import InputError
    from ..analysis import load_results
    from ..storage import Cell

    stored = load_results(args.results, set_aside=False)
    failed = sorted((r for r in stored.current.values() if not r.ok), key=lambda r: (r.cell.learner_id, r.cell.width or 0, r.cell.n_train, r.cell.seed))
    labels = {id(record): Cell(record.cell.learner_id, record.cell.seed, record.cell.n_train, record.cell.width).label()
              for record in failed}
    if args.cell is None:
        if not failed:
            print(f"{args.results}: no failed cell")
        for record in failed:
            print(f"{labels[id(record)]}: {record.failure}")
        return 0
    learner, fields = _parse_cell(args.cell)
    matches = [
        record for record in failed
        if record.cell.learner_id == learner and all(
            getattr(record.cell, {"n": "n_train"}.get(key, key)) == value for key, value in fields.items()
        )
    ]
    if len(matches) != 1:
        known = "; ".join(labels.values()) or "none"
        found = "no failed cell" if not matches else f"{len(matches)} failed cells"
        raise InputError(f"{args.results}: {found} match {args.cell!r}; the failed cells are: {known}")
    record = matches[0]
    print(f"{labels[id(record)]}: {record.failure}\n")
    print(record.traceback.rstrip() if record.traceback else
          "No traceback is stored: the learner reported this failure itself (CellFailure), or it broke the contract.")
    return 0


def _kernels(args: argparse.Namespace) -> int:
    from ..api import InputError, format_bytes
    from ..storage import KERNEL_STORE_DIR, SPEC_FILE, stored_kernels

    root = Path(args.store)
    if (root / SPEC_FILE).is_file():
        root = root / KERNEL_STORE_DIR
    if not root.is_dir():
        raise InputError(f"{args.store}: no such kernel store (a folder that --kernel-store named, or a results directory)")
    kernels = stored_kernels(root)
    if not kernels:
        print(f"{root}: no kernel stored")
        return 0
    total = sum(kernel.disk_bytes for kernel in kernels)
    print(f"{root}: {len(kernels)} kernel(s), {format_bytes(total)} on disk")
    for kernel in kernels:
        print(f"\n{kernel.identity}  {format_bytes(kernel.disk_bytes)}, {kernel.tile_files} tile file(s): {_describe_kernel(kernel.description)}")
        for evaluation in kernel.evaluations:
            rows, columns = evaluation.shape
            form = "symmetric" if evaluation.symmetric else "rectangular"
            print(f"  inputs {evaluation.inputs[:8]}: {rows} x {columns} ({form}, tiles {evaluation.tile_shape[0]} x {evaluation.tile_shape[1]}): "
                  f"{evaluation.present} of {evaluation.tiles} tiles stored")
    return 0


def _describe_kernel(description: dict) -> str:
    """`infinite ntk of mlp.MLPArchitecture {width: 512, ...}`, say, from a stored kernel's description."""
    architecture = description.get("architecture") or {}
    name = str(architecture.get("class", "a network")).rsplit(".", 2)
    options = architecture.get("options") or {}
    text = f"{description.get('kernel', 'kernel')} of {'.'.join(name[-2:])}"
    if options:
        text += " {" + ", ".join(f"{key}: {value}" for key, value in sorted(options.items())) + "}"
    if "parameters" in description:
        text += f", parameters {description['parameters']}"
    return text

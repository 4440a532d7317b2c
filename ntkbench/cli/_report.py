"""`ntkbench leaderboard`: fit the exponents of results directories and render the leaderboard;
`ntkbench export`: a results directory's records as one table file."""

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


def _leaderboard(args: argparse.Namespace) -> int:
    from ..api import InputError
    from ..report import leaderboard_is_current, write_leaderboard

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
        if leaderboard_is_current(results, args.out):
            print(f"{args.out} is what its {len(results)} results director{'y' if len(results) == 1 else 'ies'} render")
            return 0
        print(
            f"ntkbench: {args.out} is stale: it is not what {', '.join(map(str, results))} render. "
            f"Regenerate it with: ntkbench leaderboard --out {args.out}",
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

"""The `ntkbench` command line: the parser, with one module per command group, and the one place
where errors become messages and exit codes.

Every failure is a message and an exit code, never a traceback: 2 for invalid input (spec,
command line, missing data), 1 for a failure at run time (set NTKBENCH_DEBUG=1 to see the
traceback of an unexpected error). Each command imports what it needs when it runs, so that
`--help`, `list` and `validate` start without jax or scipy.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..api import NtkbenchError, SpecError
from . import _data, _diagnose, _plugins, _report, _run, _spec

EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a Unix tool whose reader went away exits with."""
COMMAND_GROUPS = (_run, _spec, _report, _plugins, _diagnose, _data)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ntkbench",
        description="Benchmark data-scaling exponents of finite networks against their neural tangent kernels.",
    )
    from importlib.metadata import version

    parser.add_argument("--version", action="version", version=f"ntkbench {version('ntkbench')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # inside the try: a reader that closed the pipe is met here, not at exit
        return code
    except SpecError as error:
        print(error, file=sys.stderr)  # one "file:line:column: key: reason" line per problem
        return error.exit_code
    except NtkbenchError as error:
        print(f"ntkbench: error: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # the reader closed the pipe (`ntkbench list | head`): end quietly, as a Unix tool does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        hint = getattr(args, "interrupt_hint", "")
        print(f"\nntkbench: interrupted{'; ' + hint if hint else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if os.environ.get("NTKBENCH_DEBUG"):
            raise
        print(
            f"ntkbench: internal error: {type(error).__name__}: {error}\n"
            "This is a bug in ntkbench or a plugin; set NTKBENCH_DEBUG=1 to see the traceback.",
            file=sys.stderr,
        )
        return 1


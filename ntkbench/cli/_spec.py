"""`ntkbench validate` and `ntkbench schema`: check spec files, and describe what a spec may hold."""

from __future__ import annotations

import argparse
import json
import sys

from ..api import SpecError


def add_commands(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser("validate", help="check spec files without running them")
    validate.add_argument("specs", nargs="+", metavar="SPEC")
    validate.set_defaults(handler=_validate)

    schema = commands.add_parser("schema", help="print the JSON Schema of a spec (for editor completion)")
    schema.set_defaults(handler=_schema)


def _validate(args: argparse.Namespace) -> int:
    from ..run import cells_of
    from ..spec import load_spec

    status = 0
    for path in args.specs:
        try:
            spec = load_spec(path)
        except SpecError as error:
            print(error, file=sys.stderr)
            status = 2
            continue
        cells = len(cells_of(spec.as_dict()))
        print(f"{path}: ok ({spec.name}: {len(spec.learners)} learners, {cells} cells, hash {spec.hash[:12]})")
    return status


def _schema(args: argparse.Namespace) -> int:
    from ..spec import spec_json_schema

    print(json.dumps(spec_json_schema(), indent=2))
    return 0

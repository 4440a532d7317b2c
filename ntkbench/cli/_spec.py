"""`ntkbench validate` and `ntkbench schema`: check spec files, and describe what a spec may hold."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from ..api import SpecError

if TYPE_CHECKING:
    from ..spec import Spec


def add_spec_changes(parser: argparse.ArgumentParser) -> None:
    """`--set`, `--learners` and `--plugin`: change a spec from the command line (validated like the file)."""
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", dest="settings",
                        help="change one value of the spec: a dotted path and a YAML value, e.g. sweep.seeds=[0] or "
                             "learners.network.max_steps=500 (a learner by its id); repeatable")
    parser.add_argument("--learners", metavar="ID,ID", type=lambda text: [part.strip() for part in text.split(",")],
                        help="keep only these learners (by id), e.g. network,ntk_infinite")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE", dest="plugins",
                        help="a plugin file (or module) to add to the spec's plugins: list and import; repeatable")
    add_trust_plugins(parser)


def add_trust_plugins(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-plugins", action="store_true",
                        help="import the plugin files and modules the spec's plugins: names (importing runs their code; "
                             "without this flag they are listed with their SHA-256 and nothing is imported)")


def load_changed_spec(path: str, args: argparse.Namespace) -> Spec:
    """The spec at `path` with the command line's `--set`, `--learners` and `--plugin` applied."""
    from ..spec import load_spec

    return load_spec(path, overrides=args.settings, learners=args.learners, plugins=args.plugins,
                     trust_plugins=args.trust_plugins)


def add_commands(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser("validate", help="check spec files without running them")
    validate.add_argument("specs", nargs="+", metavar="SPEC")
    add_spec_changes(validate)
    validate.set_defaults(handler=_validate)

    schema = commands.add_parser("schema", help="print the JSON Schema of a spec (for editor completion)")
    schema.set_defaults(handler=_schema)


def _validate(args: argparse.Namespace) -> int:
    from ..storage import cells_of

    status = 0
    for path in args.specs:
        try:
            spec = load_changed_spec(path, args)
        except SpecError as error:
            print(error, file=sys.stderr)
            status = 2
            continue
        cells = len(cells_of(spec.as_dict()))
        print(f"{path}: ok ({spec.name}: {len(spec.learners)} learners, {cells} cells, hash {spec.hash[:12]})")
        if (note := spec.comparison_note()) is not None:
            print(f"{path}: note: {note}", file=sys.stderr)
    return status


def _schema(args: argparse.Namespace) -> int:
    from ..spec import spec_json_schema

    print(json.dumps(spec_json_schema(), indent=2))
    return 0

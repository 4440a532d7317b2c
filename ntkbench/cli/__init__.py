"""The `ntkbench` command line (`ntkbench --help`)."""

from ._main import build_parser as build_parser
from ._main import main as main

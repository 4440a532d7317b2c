"""`python -m ntkbench.cli`: the same as the `ntkbench` command."""

import sys

from ._main import main

sys.exit(main())

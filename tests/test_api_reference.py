"""docs/api.md is what scripts/api_reference.py generates from the code's signatures and docstrings,
and it covers every exported name, the cost estimate included."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_the_api_reference_is_current():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "api_reference.py"), "--check"],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr + "\nregenerate with: python scripts/api_reference.py"


def test_the_api_reference_documents_every_export():
    import ntkbench
    import ntkbench.kernels
    import ntkbench.testing
    import ntkbench.training

    text = (REPO / "docs" / "api.md").read_text()
    for module in (ntkbench, ntkbench.kernels, ntkbench.training, ntkbench.testing):
        for name in module.__all__:
            assert f"### `{module.__name__}.{name}`" in text, f"{module.__name__}.{name} is not in docs/api.md"
    for needed in ("### `ntkbench.CostContext`", "### `ntkbench.CellCost`", "**`estimate_cost(self, context:",
                   "`plugin_name` = `None`", "### `ntkbench.testing.check_plugin`", "at_width"):
        assert needed in text, needed

"""The package is laid out as its pipeline: imports go one way, the core never imports a built-in
plugin, there is no import cycle, and the fast commands import neither jax nor scipy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "ntkbench"
RANKS = {"api": 0, "nt_compat": 0, "numerics": 1, "kernels": 1, "infinite": 1, "training": 1, "costs": 1, "layers": 1, "spec": 2, "storage": 3,
         "runner": 4, "analysis": 4, "testing": 5, "report": 5, "tracking": 5, "results": 6, "cli": 7, "": 8}
"""The core's layers, lowest first ("" is `ntkbench/__init__.py`): a module imports only from its own
layer and those below. Storage lies below the runner, which writes through it; analysis reads
through it too, beside the runner."""
APART = {("analysis", "runner"), ("runner", "analysis"), ("report", "runner"), ("results", "report"),
         ("tracking", "runner"), ("runner", "tracking"), ("tracking", "report"), ("report", "tracking")}
"""Layers that never import the other, whatever their ranks: collection and fitting need nothing
of the runner, the renderer reads through analysis and storage, and the results API frames
records and fits without the renderer (`FACADES` excepted); the run log hears of records through
a callback the runner is given, and of the leaderboard through the paths of its files."""
FACADES = {"ntkbench.results._session"}
"""`ntkbench.run` computes a spec and renders its leaderboard: it may use every layer below it."""
PLUGINS = {"learners", "architectures", "datasets", "trackers"}
PLUGINS_MAY_IMPORT = {"api", "nt_compat", "kernels", "infinite", "training", "costs", "layers"}
"""Built-in plugins use ntkbench's public API, what a third-party plugin has: nothing of the numerics
below it, nothing of the runner."""


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(module: str, is_package: bool, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The ntkbench modules an import statement names (a `from X import m` of a submodule names X.m)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "ntkbench"]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "ntkbench":
        return []
    found = []
    for alias in node.names:
        candidate = REPO.joinpath(*f"{target}.{alias.name}".split("."))
        found.append(f"{target}.{alias.name}" if candidate.with_suffix(".py").is_file() or candidate.is_dir() else target)
    return found


def is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path) -> set[str]:
    """Every ntkbench module that `path` imports, at module level or inside functions (not under TYPE_CHECKING)."""
    module, tree = module_name(path), ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if is_type_checking_block(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(resolve(module, path.name == "__init__.py", node))
        stack.extend(ast.iter_child_nodes(node))
    return found - {module}


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_imports_go_one_way():
    upward = []
    for module, targets in graph().items():
        source = layer(module)
        for target in targets:
            destination = layer(target)
            if source in PLUGINS:
                allowed = destination in PLUGINS_MAY_IMPORT or destination == source
            elif destination in PLUGINS:
                allowed = False  # the core never imports a built-in plugin
            elif source == "numerics":
                allowed = RANKS[destination] == 0 or destination == "numerics"
            elif (source, destination) in APART:
                allowed = module in FACADES
            else:
                allowed = RANKS[destination] <= RANKS[source]
            if not allowed:
                upward.append(f"{module} imports {target}")
    assert not upward, "imports against the pipeline:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state and target in edges:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_walk_sees_imports_of_every_kind():
    """The checks above would pass vacuously if the walk missed relative, lazy or `from . import` imports."""
    edges = graph()
    assert "ntkbench.api" in edges["ntkbench.spec._rules"]  # from ..api import (module level)
    assert "ntkbench.runner._ray" in edges["ntkbench.runner._runner"]  # from ._ray import (inside a function)
    assert "ntkbench.storage" in edges["ntkbench.runner._runner"]  # from ..storage import
    assert "ntkbench.cli._run" in edges["ntkbench.cli._main"]  # from . import _run
    assert "ntkbench.kernels" in edges["ntkbench.learners.entk_init"]


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["validate", "specs/fashion_mlp.yaml"]], ids=["help", "list", "validate"])
def test_fast_commands_import_neither_jax_nor_scipy(argv):
    script = (
        "import sys\nfrom ntkbench.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('jax', 'scipy', 'matplotlib', 'neural_tangents') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"

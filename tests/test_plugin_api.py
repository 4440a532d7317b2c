"""The documented plugin API: docs/reference/plugin-api.md shows exactly what `ntkbench new-plugin` writes,
and the written packages work."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO, run_cli, spec_page

from ntkbench.cli._scaffold import plugin_source

EXAMPLE = re.compile(r"<!-- example: (\w+) (\w+) -->\n```python\n(.*?)```", re.S)


def test_docs_show_the_scaffold_examples_verbatim():
    docs = (REPO / "docs" / "reference" / "plugin-api.md").read_text()
    examples = EXAMPLE.findall(docs)
    assert {kind for kind, _, _ in examples} == {"learner", "dataset", "architecture"}
    for kind, name, code in examples:
        assert code == plugin_source(kind, name), f"docs/reference/plugin-api.md's {kind} example drifted from the scaffold"


@pytest.mark.parametrize(("kind", "name"), [("learner", "rbf_ridge"), ("dataset", "clusters"), ("architecture", "two_layer")])
def test_new_plugin_writes_a_package_whose_test_passes(kind, name, tmp_path):
    result = run_cli("new-plugin", name, "--kind", kind, "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    root = tmp_path / f"ntkbench-{name.replace('_', '-')}"
    pyproject = (root / "pyproject.toml").read_text()
    assert f'[project.entry-points."ntkbench.{kind}s"]' in pyproject
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                           capture_output=True, text=True, env=env, cwd=root, timeout=600)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    again = run_cli("new-plugin", name, "--kind", kind, "--dir", str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_registry_packages_are_installed_as_third_party_plugins():
    result = run_cli("list")
    rows = {line.split()[1]: line for line in result.stdout.splitlines()[2:] if line.strip()}
    for name, distribution in [
        ("nngp_infinite", "ntkbench-nngp"), ("nngp_empirical", "ntkbench-nngp"),
        ("random_features", "ntkbench-random-features"), ("fashion_pairs", "ntkbench-extra-data"),
    ]:
        assert distribution in rows[name] and "third-party" in rows[name] and rows[name].rstrip().endswith("ok")


@pytest.mark.slow
@pytest.mark.skipif(not (REPO / "registry").is_dir(), reason="no registry/")
def test_the_plugins_spec_runs_with_all_three_registry_packages(tmp_path):
    """specs/fashion_mlp_plugins.yaml, shrunk to a few cells: every plugin learner and the plugin
    dataset run beside the built-in learners."""
    import yaml
    from conftest import fashion_mnist_available

    if not fashion_mnist_available() and not os.environ.get("CI"):
        pytest.skip("Fashion-MNIST files not installed")
    spec = yaml.safe_load((REPO / "specs" / "fashion_mlp_plugins.yaml").read_text())
    spec["dataset"]["n_test"] = 100
    spec["architecture"]["width"] = 32
    spec["sweep"] = {"n_train": [16, 32, 64], "seeds": [0]}
    for learner in spec["learners"]:
        if "steps" in learner:
            learner["steps"] = 30
    path = tmp_path / "plugins.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = run_cli("run", str(path), "--out", str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "21 cell(s) computed, 0 already recorded, 0 failed" in result.stdout
    board = spec_page(tmp_path / "out")
    for learner in ("nngp_infinite", "nngp_empirical", "rf_64", "rf_1024", "ntk_infinite"):
        assert f"`{learner}`" in board


def test_the_docs_check_plugin_example_names_a_plugin_a_fresh_clone_has():
    pages = "\n".join(path.read_text() for path in (REPO / "docs").rglob("*.md"))
    examples = re.findall(r"^ntkbench check-plugin (\w+) --options '([^']*)'", pages, re.M)
    assert examples
    for name, options in examples:
        result = run_cli("check-plugin", name, "--options", options)
        assert result.returncode == 0, result.stdout + result.stderr

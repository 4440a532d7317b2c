"""The documentation site's examples run: every `>>>` example of a page under docs/ and of a
docstring in ntkbench (skipped ones are marked `+SKIP` where they need a plugin class to exist).
`make docs` builds the site itself, with `--strict` in CI (.ci/run)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
from conftest import REPO

import ntkbench

PAGES = sorted(path for path in (REPO / "docs").rglob("*.md") if ">>>" in path.read_text())
MODULES = sorted(
    info.name for info in pkgutil.walk_packages(ntkbench.__path__, "ntkbench.")
    if not info.ispkg and ">>>" in (REPO / (info.name.replace(".", "/") + ".py")).read_text()
)


def test_there_are_examples_to_run():
    assert PAGES and len(MODULES) >= 5


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(REPO / "docs")) for page in PAGES])
def test_a_pages_examples_run(page):
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("name", MODULES)
def test_a_modules_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0

"""Every spec shipped in specs/ validates (offline: validation needs no data files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntkbench import load_spec

SPECS = sorted((Path(__file__).resolve().parents[1] / "specs").glob("*.yaml"))


def test_there_are_specs():
    assert SPECS


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_shipped_spec_validates(path):
    spec = load_spec(path)
    assert spec.name == path.stem

"""The README stays short and true: its spec validates, its leaderboard rows are the published
leaderboard's, its links lead somewhere, and it is read in five minutes (about 200 lines)."""

from __future__ import annotations

import re

import yaml
from conftest import REPO

from ntkbench.spec import parse_spec

README = (REPO / "README.md").read_text()


def _block(marker: str) -> str:
    """The text after `<!-- marker -->`: a fenced block's body, or the lines up to the closing marker."""
    after = README.split(f"<!-- {marker} -->", 1)[1]
    if after.lstrip().startswith("```"):
        return after.lstrip().split("\n", 1)[1].split("```", 1)[0]
    return after.split(f"<!-- /{marker} -->", 1)[0]


def test_the_readme_is_read_in_five_minutes():
    assert len(README.splitlines()) <= 200
    assert README.index("make demo") < README.index("make test") < README.index("## ")  # the two commands first


def test_the_readmes_spec_validates_and_its_run_output_is_that_specs():
    spec = parse_spec(yaml.safe_load(_block("readme-spec")))
    output = _block("readme-run")
    assert f"ntkbench run {spec.name}.yaml" in output
    assert all(f"{choice.id}" in output for choice in spec.learners)
    assert f"{len(spec.learners) * len(spec.n_train) * len(spec.seeds)} cell(s) computed" in output


def test_the_readmes_leaderboard_rows_are_the_published_leaderboards():
    def cells(row: str) -> list[str]:
        return [cell.strip() for cell in row.strip().strip("|").split("|")]

    published = {tuple(cells(line)) for line in (REPO / "leaderboard" / "README.md").read_text().splitlines() if line.startswith("|")}
    rows = [line for line in _block("readme-leaderboard").splitlines() if line.startswith("|") and not line.startswith("|--")]
    assert len(rows) >= 5
    for row in rows:
        assert tuple(cell.replace("(leaderboard/", "(") for cell in cells(row)) in published, row


def test_the_readmes_links_lead_to_files():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not target.startswith("http"):
            assert (REPO / target).exists(), target

"""Parameter grids: one learner per combination, validated and keyed exactly as if written out, with
problems located at the grid's entry."""

from __future__ import annotations

import pytest
import yaml
from conftest import spec_page

import ntkbench
from ntkbench import SpecError, parse_spec
from ntkbench.storage import Cell, cell_key

BASE = {
    "name": "grids",
    "dataset": {"name": "teacher_student", "dim": 8, "pool": 1000, "n_test": 200},
    "architecture": {"name": "mlp", "width": 64, "depth": 1},
    "sweep": {"n_train": [16, 32, 64], "seeds": [0, 1]},
}


def _spec(*learners, **extra):
    return {**BASE, "learners": [{"name": "ntk_infinite"}, *learners], "compare": {"reference": "ntk_infinite"}, **extra}


def test_a_grid_is_one_learner_per_combination_in_its_place():
    spec = parse_spec(_spec(
        {"name": "random_features", "grid": {"width": [16, 64], "ridge": [1e-3, 0.1]}},
        {"name": "network", "id": "net", "steps": 50, "optimizer": {"name": "sgd"}, "grid": {"optimizer.learning_rate": [0.1, 0.5]}},
    ))
    assert [learner.id for learner in spec.learners] == [
        "ntk_infinite",
        "random_features[width=16,ridge=0.001]", "random_features[width=16,ridge=0.1]",
        "random_features[width=64,ridge=0.001]", "random_features[width=64,ridge=0.1]",
        "net[optimizer.learning_rate=0.1]", "net[optimizer.learning_rate=0.5]",
    ]
    member = spec.learner("random_features[width=64,ridge=0.1]")
    assert member.options.width == 64 and member.options.ridge == 0.1
    assert spec.learner("net[optimizer.learning_rate=0.5]").options.optimizer.learning_rate == 0.5


def test_a_grid_member_has_the_cell_keys_of_the_same_learner_written_out():
    grid = parse_spec(_spec({"name": "random_features", "grid": {"width": [16, 64]}})).as_dict()
    written = parse_spec(_spec({"name": "random_features", "id": "rf", "width": 64})).as_dict()
    assert cell_key(grid, Cell("random_features[width=64]", 1, 32, None)) == cell_key(written, Cell("rf", 1, 32, None))


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"width": 16}, "learners[1].grid.width: expected a non-empty list of values"),
        ({"width": []}, "learners[1].grid.width: expected a non-empty list of values"),
        ({"width": [16, 16]}, "learners[1].grid.width: a value is given twice"),
        ({"width": [[16]]}, "learners[1].grid.width: grid values are single numbers, strings or booleans"),
        ({"name": ["a"]}, "learners[1].grid.name: a grid varies the learner's options"),
        ([16, 64], "learners[1].grid: a grid is a mapping of option names to lists of values"),
        ({"ridge": [0.1], "width": [16]}, "'ridge' is set by the entry and varied by its grid"),
    ],
)
def test_a_malformed_grid_is_reported_at_its_key(grid, message):
    with pytest.raises(SpecError) as error:
        parse_spec(yaml.safe_dump(_spec({"name": "random_features", "ridge": 0.5, "grid": grid})), "spec.yaml")
    assert message in str(error.value)


def test_a_problem_in_a_grid_value_names_the_entry_and_the_member():
    text = yaml.safe_dump(_spec({"name": "random_features", "grid": {"width": [16, -4]}}), sort_keys=False)
    with pytest.raises(SpecError) as error:
        parse_spec(text, "spec.yaml")
    problems = error.value.problems
    assert len(problems) == 1
    assert problems[0].key == "learners[1] (random_features[width=-4]).width"
    lines = text.splitlines()
    assert lines[problems[0].line - 1].strip() == "width:" and lines[problems[0].line - 2].strip() == "grid:"
    assert "greater than 0" in problems[0].reason


def test_a_grid_learner_can_be_the_reference_and_runs(tmp_path):
    spec = _spec({"name": "random_features", "grid": {"width": [16, 32]}}, compare={"reference": "random_features[width=32]"})
    spec["sweep"] = {"n_train": [16, 32, 64], "seeds": [0]}
    results = ntkbench.run(spec, out=tmp_path)
    assert results.run.computed == 9 and not results.run.failed
    assert sorted(path.name for path in (tmp_path / "records").iterdir()) == [
        "ntk_infinite", "random_features[width=16]", "random_features[width=32]"]
    header = spec_page(tmp_path)
    assert "- grid `random_features`, 2 learners `[width=16]`, `[width=32]`: `random_features` (ridge=1e-06)" in header

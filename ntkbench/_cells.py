"""A spec's cells: one (learner, n_train, seed) each, and the key that says what determines its result."""

from __future__ import annotations

import dataclasses
from typing import Any

from ._spec import content_hash


@dataclasses.dataclass(frozen=True, order=True)
class Cell:
    learner_id: str
    seed: int
    n_train: int

    def label(self) -> str:
        return f"{self.learner_id} n={self.n_train} seed={self.seed}"


def cells_of(spec_dict: dict[str, Any]) -> list[Cell]:
    """Every cell of a spec (in its canonical dict form), learner by learner, seed by seed, n ascending."""
    return [
        Cell(learner["id"], seed, n)
        for learner in spec_dict["learners"]
        for seed in spec_dict["sweep"]["seeds"]
        for n in spec_dict["sweep"]["n_train"]
    ]


def cell_key(spec_dict: dict[str, Any], cell: Cell) -> str:
    """Hash of everything that determines a cell's result.

    The dataset, the architecture, the learner's plugin and options (not its display id, the spec's
    name or its other learners), n_train and the seed. A record whose key differs from the current
    spec's belongs to an earlier version of the spec: it is kept on disk but never used.
    """
    learner = next(entry for entry in spec_dict["learners"] if entry["id"] == cell.learner_id)
    return content_hash(
        {
            "dataset": spec_dict["dataset"],
            "architecture": spec_dict["architecture"],
            "learner": {key: value for key, value in learner.items() if key != "id"},
            "n_train": cell.n_train,
            "seed": cell.seed,
        }
    )

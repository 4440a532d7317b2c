"""A spec's cells: one (learner, width, seed, n_train) each, and the key that says what determines its result."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..spec import PERFORMANCE_ONLY, content_hash


@dataclasses.dataclass(frozen=True, order=True)
class Cell:
    learner_id: str
    seed: int
    n_train: int
    width: int | None = None
    """The architecture's width in a width sweep (`sweep.width`); None: the spec's architecture as written."""

    def label(self) -> str:
        width = f" width={self.width}" if self.width is not None else ""
        return f"{self.learner_id}{width} n={self.n_train} seed={self.seed}"


def widths_of(spec_dict: dict[str, Any]) -> list[int | None]:
    return list(spec_dict["sweep"].get("width") or [None])


def cells_of(spec_dict: dict[str, Any]) -> list[Cell]:
    """Every cell of a spec (in its canonical dict form): learner by learner, width by width, seed by
    seed, n ascending (so that what a learner computes once per seed serves all its n)."""
    return [
        Cell(learner["id"], seed, n, width)
        for learner in spec_dict["learners"]
        for width in widths_of(spec_dict)
        for seed in spec_dict["sweep"]["seeds"]
        for n in spec_dict["sweep"]["n_train"]
    ]


def architecture_at(spec_dict: dict[str, Any], width: int | None) -> dict[str, Any]:
    """The architecture section with the sweep's width (if any) in place of its own."""
    architecture = dict(spec_dict["architecture"])
    if width is not None:
        architecture["width"] = width
    return architecture


def _result_options(section: dict[str, Any]) -> dict[str, Any]:
    """A plugin section without the options that only affect speed (see `PluginOptions.performance_only`)."""
    skip = {PERFORMANCE_ONLY, *section.get(PERFORMANCE_ONLY, ())}
    return {key: value for key, value in section.items() if key not in skip}


def cell_key(spec_dict: dict[str, Any], cell: Cell) -> str:
    """Hash of everything that determines a cell's result.

    The dataset, the architecture (at the cell's width), the learner's plugin and options (not its
    display id, the spec's name or its other learners), n_train, the seed, and the dynamics section
    when there is one. A record whose key differs from the current spec's belongs to an earlier
    version of the spec: it is kept on disk but never used.
    """
    learner = next(entry for entry in spec_dict["learners"] if entry["id"] == cell.learner_id)
    determining = {
        "dataset": _result_options(spec_dict["dataset"]),
        "architecture": _result_options(architecture_at(spec_dict, cell.width)),
        "learner": _result_options({key: value for key, value in learner.items() if key != "id"}),
        "n_train": cell.n_train,
        "seed": cell.seed,
    }
    if spec_dict.get("dynamics"):
        determining["dynamics"] = spec_dict["dynamics"]
    return content_hash(determining)

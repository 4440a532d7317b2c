"""Parameter grids: a learner entry with `grid: {option: [values], ...}` stands for one learner per
combination of the values, each with the id `<id>[option=value,...]` (the entry's id, or its name).

    learners: [{name: random_features, grid: {width: [64, 256, 1024]}}]

is the three learners `random_features[width=64]`, `random_features[width=256]` and
`random_features[width=1024]`, in that order and in the entry's place. A dotted option sets a
nested one (`optimizer.learning_rate`). The expansion happens before validation, so each learner
is validated, keyed and recorded exactly as if it had been written out.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

from ._yaml import Path_, ProblemCollector

GRID_KEY = "grid"
MAX_COMBINATIONS = 1000


def grid_id(base: str, assignment: dict[str, Any]) -> str:
    """`base[key=value,...]`: floats as Python writes them (shortest round trip), booleans in YAML's words."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        return repr(value) if isinstance(value, float) else str(value)

    return f"{base}[{','.join(f'{key}={text(value)}' for key, value in assignment.items())}]"


def _set(entry: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        if not isinstance(entry.get(part), dict):
            entry[part] = {}
        entry = entry[part]
    entry[parts[-1]] = value


def _has(entry: dict[str, Any], dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(entry, dict) or part not in entry:
            return False
        entry = entry[part]
    return True


def _grid_problem(grid: Any, entry: dict[str, Any]) -> tuple[Path_, str] | None:
    """(key under the grid, reason) when the grid is not a mapping of options to non-empty lists of
    single values, or sets an option the entry sets too; None when it is usable."""
    if not isinstance(grid, dict) or not grid:
        return (), "a grid is a mapping of option names to lists of values, e.g. {width: [64, 256]}"
    for key, values in grid.items():
        if not isinstance(key, str) or not key or key in {"name", "id", GRID_KEY}:
            return (str(key),), "a grid varies the learner's options (not its name or id)"
        if not isinstance(values, list) or not values:
            return (key,), "expected a non-empty list of values"
        if any(isinstance(value, dict | list) or value is None for value in values):
            return (key,), "grid values are single numbers, strings or booleans"
        if len({repr(value) for value in values}) < len(values):
            return (key,), "a value is given twice"
        if _has(entry, key):
            return (key,), f"{key!r} is set by the entry and varied by its grid; set it in one place"
    combinations = 1
    for values in grid.values():
        combinations *= len(values)
    if combinations > MAX_COMBINATIONS:
        return (), f"the grid has {combinations} combinations; at most {MAX_COMBINATIONS}"
    return None


def expand_grids(data: dict[str, Any], collector: ProblemCollector) -> dict[str, Any]:
    """`data` with every learner entry that has a grid replaced by its combinations (positions in
    `collector` re-indexed to match: a problem in a generated learner is located at its entry, a
    problem in a value at the grid's key). A malformed grid is reported and its entry dropped."""
    learners = data.get("learners")
    if not isinstance(learners, list) or not any(isinstance(e, dict) and GRID_KEY in e for e in learners):
        return data
    problems = {index: _grid_problem(entry[GRID_KEY], {k: v for k, v in entry.items() if k != GRID_KEY})
                for index, entry in enumerate(learners) if isinstance(entry, dict) and GRID_KEY in entry}
    for index, problem in problems.items():  # reported before any generated learner is named
        if problem is not None:
            collector.add(("learners", index, GRID_KEY, *problem[0]), problem[1])
    expanded: list[Any] = []
    origins: list[tuple[int, dict[str, str]]] = []  # per new entry: its entry's index, and grid key per option path
    for index, entry in enumerate(learners):
        if not (isinstance(entry, dict) and GRID_KEY in entry):
            expanded.append(entry)
            origins.append((index, {}))
            continue
        if problems[index] is not None:
            continue
        rest = {key: value for key, value in entry.items() if key != GRID_KEY}
        grid = entry[GRID_KEY]
        base = str(rest.get("id") or rest.get("name"))
        for values in itertools.product(*grid.values()):
            assignment = dict(zip(grid, values, strict=True))
            member = copy.deepcopy(rest)
            for key, value in assignment.items():
                _set(member, key, value)
            member["id"] = grid_id(base, assignment)
            collector.aliases[("learners", len(expanded))] = f"learners[{index}] ({member['id']})"
            expanded.append(member)
            origins.append((index, {key: key for key in grid}))
    positions = collector.positions
    moved: dict[Path_, tuple[int, int]] = {path: place for path, place in positions.items() if path[:1] != ("learners",)}
    if ("learners",) in positions:
        moved[("learners",)] = positions[("learners",)]
    for new, (old, grid_keys) in enumerate(origins):
        for path, place in positions.items():
            if path[:2] == ("learners", old) and path[2:3] != (GRID_KEY,):
                moved[("learners", new, *path[2:])] = place
        for dotted in grid_keys:
            place = positions.get(("learners", old, GRID_KEY, dotted))
            parts = tuple(dotted.split("."))
            for depth in range(1, len(parts) + 1):  # the option and the mappings that lead to it
                if place is not None and ("learners", new, *parts[:depth]) not in moved:
                    moved[("learners", new, *parts[:depth])] = place
    collector.positions = moved
    return {**data, "learners": expanded}

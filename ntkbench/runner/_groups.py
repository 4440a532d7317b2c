"""Which cells a run computes together: a learner that trains seeds as one computation
(`Learner.trains_seeds_together`) gets the seeds of each (width, n) as one group, as many as the
memory budget holds; every other cell is computed alone.

Grouping pays where one seed leaves the device idle (an accelerator running a small network); on
a CPU one seed's training already keeps the cores busy, so a run groups seeds on accelerators
only unless told otherwise (`seeds_together`).
"""

from __future__ import annotations

from ..api import InputError
from ..spec import Spec
from ..storage import Cell


def seeds_together_here() -> bool:
    """Whether a run groups seeds by default: on an accelerator, not on a CPU."""
    import jax

    return jax.devices()[0].platform != "cpu"


def cell_groups(spec: Spec, todo: list[Cell], *, seeds_together: bool | None = None, budget: int | None = None) -> list[list[Cell]]:
    """The cells of `todo` as the units a run computes, in the order of their first cell: the seeds
    of a (learner, width, n) together for a learner that trains them so (at most as many as fit in
    `budget` bytes, by the learner's own estimate), every other cell alone. `seeds_together`: None
    for `seeds_together_here()`. A dynamics spec's cells are computed alone: each follows its own
    kernel trajectory (`Learner.kernel_dynamics`)."""
    if seeds_together is None:
        seeds_together = seeds_together_here()
    seeds_together = seeds_together and spec.dynamics is None
    together = {choice.id for choice in spec.learners if seeds_together and choice.plugin.trains_seeds_together}
    if not together:
        return [[cell] for cell in todo]
    limits = _group_limits(spec, budget) if budget is not None else {}
    groups: dict[tuple, list[list[Cell]]] = {}
    units: list[list[Cell]] = []
    for cell in todo:
        if cell.learner_id not in together:
            units.append([cell])
            continue
        key = (cell.learner_id, cell.width, cell.n_train)
        chunks = groups.get(key)
        if chunks is None or len(chunks[-1]) >= limits.get(key, len(spec.seeds)):
            chunks = groups.setdefault(key, [])
            chunks.append([])
            units.append(chunks[-1])
        chunks[-1].append(cell)
    return units


def _group_limits(spec: Spec, budget: int) -> dict[tuple, int]:
    """Per (learner, width, n): how many seeds fit in `budget` together (each holding what its cell
    alone would); none for a dataset that does not say its input shape."""
    from ._plan import plan_spec

    try:
        plans = plan_spec(spec, detailed=False)
    except InputError:
        return {}
    limits: dict[tuple, int] = {}
    for plan in plans:
        if plan.cost is not None:
            key = (plan.cell.learner_id, plan.cell.width, plan.cell.n_train)
            limits[key] = min(limits.get(key, budget), max(1, budget // max(plan.cost.peak_bytes, 1)))
    return limits

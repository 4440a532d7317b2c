"""`ntkbench plan`: what every cell of a spec will cost on this device, before running it.

Each learner estimates its cells (`Learner.estimate_cost`): FLOPs from XLA's count of the compiled
work, memory from what the cell holds plus XLA's memory analysis. Wall time is FLOPs over the
device's measured rates (float32 GEMM for compiled work, float64 Cholesky for factorisations),
so it assumes that work runs near GEMM speed: a lower bound for convolutional kernels.
`ntkbench run` uses the memory side (no compilation) to refuse a spec that exceeds the budget.
"""

from __future__ import annotations

import dataclasses
import math

from ..api import CellCost, CostContext, InputError, format_bytes
from ..spec import Spec
from ._cells import Cell, cells_of, widths_of

FALLBACK_CLASSES = 10


@dataclasses.dataclass(frozen=True)
class CellPlan:
    cell: Cell
    cost: CellCost | None
    """None: the learner does not estimate its cost."""
    seconds: float | None


def plan_spec(spec: Spec, *, detailed: bool, rates: dict[str, float] | None = None) -> list[CellPlan]:
    """Estimate every cell of `spec`. `detailed` compiles to count FLOPs (and needs `rates` for seconds)."""
    spec_dict = spec.as_dict()
    dataset = spec.dataset.instantiate()
    input_shape, num_classes = dataset.input_shape(), dataset.num_classes() or FALLBACK_CLASSES
    if input_shape is None:
        raise InputError(f"{spec.source}: dataset {spec.dataset.name!r} does not say its input shape; cannot plan")
    pool = dataset.pool_size()
    data_bytes = 4 * math.prod(input_shape) * ((pool or 0) + spec.dataset.options.n_test)
    architectures = {width: spec.architecture_at(width).instantiate() for width in widths_of(spec_dict)}
    learners = {choice.id: choice.instantiate() for choice in spec.learners}
    smallest = min(spec.n_train)
    estimates: dict[tuple, tuple[CellCost | None, float | None]] = {}
    plans = []
    for cell in cells_of(spec_dict):
        first = cell.n_train == smallest
        seed_index = spec.seeds.index(cell.seed)
        # Work shared between seeds is counted at the first seed's first cell: only first cells
        # are estimated apart for the first seed and the others.
        key = (cell.learner_id, cell.width, cell.n_train, first, first and seed_index == 0)
        if key not in estimates:
            context = CostContext(
                architecture=architectures[cell.width],
                input_shape=tuple(input_shape),
                num_classes=num_classes,
                n_train=cell.n_train,
                n_train_max=max(spec.n_train),
                n_test=spec.dataset.options.n_test,
                first_of_seed=first,
                detailed=detailed,
                seeds=len(spec.seeds),
                seed_index=seed_index,
                pool_size=pool,
            )
            cost = learners[cell.learner_id].estimate_cost(context)
            if cost is not None:
                cost = dataclasses.replace(cost, peak_bytes=cost.peak_bytes + data_bytes)
            seconds = cost.seconds(rates) if cost is not None and rates else None
            estimates[key] = (cost, seconds)
        plans.append(CellPlan(cell, *estimates[key]))
    return plans


def over_budget(plans: list[CellPlan], budget: int) -> list[CellPlan]:
    return [plan for plan in plans if plan.cost is not None and plan.cost.peak_bytes > budget]


def budget_refusal(spec: Spec, plans: list[CellPlan], budget: int) -> str:
    """The message of `ntkbench run` refusing a spec whose cells need more memory than the budget."""
    worst = sorted(over_budget(plans, budget), key=lambda p: -p.cost.peak_bytes)
    shown = "\n".join(f"  {plan.cell.label()}: {format_bytes(plan.cost.peak_bytes)}" for plan in worst[:10])
    more = f"\n  ... and {len(worst) - 10} more" if len(worst) > 10 else ""
    return (
        f"{spec.source}: {len(worst)} cell(s) need more memory than the budget of {format_bytes(budget)}:\n"
        f"{shown}{more}\nLower the largest n_train or n_test, raise --memory-budget, or run with --force."
    )


def refuse_over_budget(spec: Spec) -> None:
    """Refuse, before anything runs, a spec with cells that need more memory than the budget
    (`memory_budget()`); nothing to check for a dataset that does not say its input shape.

    **Raises:** `InputError` naming the cells that do not fit.
    """
    from ..api import memory_budget

    if spec.dataset.instantiate().input_shape() is None:
        return
    budget = memory_budget()
    plans = plan_spec(spec, detailed=False)
    if over_budget(plans, budget):
        raise InputError(budget_refusal(spec, plans, budget))

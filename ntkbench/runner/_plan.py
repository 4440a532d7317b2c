"""`ntkbench plan`: what every cell of a spec will cost on this device, before running it.

Each learner estimates its cells (`Learner.estimate_cost`): FLOPs and memory of its computations
counted from their jaxprs (traced, not compiled), plus what the cell holds. Wall time is timed
work where the plan timed a small instance of the computation (for a few seconds in all, kept for
later plans), else FLOPs over the device's measured rates (float32 GEMM, float64 Cholesky for
factorisations): a lower bound, far below the time of convolutional kernels on a CPU.
`ntkbench run` uses the memory side (nothing traced) to refuse a spec that exceeds the budget.
A spec's spectra (`plan_spectra`) are planned as their learner's kernel on the pool plus a float64
eigendecomposition of it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..api import CellCost, CostContext, InputError, format_bytes, kernel_identity
from ..spec import Spec
from ..storage import SPEC_FILE, Cell, RecordStore, TileDirectory, cells_of, widths_of

FALLBACK_CLASSES = 10
EIGH_FLOPS_PER_CUBE = 4.0
"""Work of a symmetric eigendecomposition with eigenvectors by LAPACK's divide and conquer, per M^3
(about 4/3 to reduce to tridiagonal form, 2 to transform back, and the merges' matrix products),
counted at the float64 factorisation rate; benchmarks/README.md sets it against measured times."""


@dataclasses.dataclass(frozen=True)
class CellPlan:
    cell: Cell
    cost: CellCost | None
    """None: the learner does not estimate its cost."""
    seconds: float | None
    alone: tuple[CellCost | None, float | None] | None = None
    """For the first cell of a seed, which does the work the seed's other cells share (a kernel on
    the largest training set and its factorisation, a pre-training): the cost and seconds of the
    cell without it, as its seed's later cells count theirs."""


class StoredShares:
    """What a kernel store holds of each seed's kernels, as `CostContext.stored` asks it: the data are
    loaded (as the run loads them) the first time a kernel with tiles in the store is asked for."""

    def __init__(self, spec: Spec, store: Path):
        self.spec = spec
        self.store = TileDirectory(store)
        self.counted: dict[tuple[str, int, int], tuple[float, float]] = {}
        """(entries stored, entries in all) per (kernel identity, seed, tile edge) asked for."""
        self._inputs: tuple[dict[int, Any], Any] | None = None

    def of_seed(self, seed: int) -> Callable[[Mapping[str, Any], int], float]:
        def share(description: Mapping[str, Any], edge: int) -> float:
            key = (kernel_identity(description), seed, edge)
            if key not in self.counted:
                self.counted[key] = self._count(key[0], seed, edge)
            stored, total = self.counted[key]
            return stored / total if total else 0.0

        return share

    def _count(self, identity: str, seed: int, edge: int) -> tuple[float, float]:
        n_max, n_test = max(self.spec.n_train), self.spec.dataset.options.n_test
        present = self.store.names(identity)
        if not present:
            return 0.0, n_max * (n_max + 1) / 2 + n_test * n_max
        from ..numerics._kernels import stored_share
        from ._work import prepare

        if self._inputs is None:
            context, _ = prepare(self.spec)
            self._inputs = ({seed: sampler.nested_subset(n_max)[0] for seed, sampler in context.samplers.items()},
                            context.x_test)
        trains, x_test = self._inputs
        shares = [stored_share(present, trains[seed], max_tile=edge),
                  stored_share(present, x_test, trains[seed], max_tile=edge)]
        return sum(stored for stored, _ in shares), sum(total for _, total in shares)

    def stored_fraction(self) -> float | None:
        """The share of the entries of every kernel asked for that the store holds (None: none asked)."""
        total = sum(total for _, total in self.counted.values())
        return sum(stored for stored, _ in self.counted.values()) / total if total else None


RecordedFacts = dict[tuple[str, int | None], dict[int, dict[str, float]]]
"""Per (learner, width) and n: numeric facts of earlier records, averaged over seeds (`recorded_facts`)."""


def plan_spec(
    spec: Spec,
    *,
    detailed: bool,
    rates: dict[str, float] | None = None,
    records: str | Path | None = None,
    recorded: RecordedFacts | None = None,
    stored: StoredShares | None = None,
) -> list[CellPlan]:
    """Estimate every cell of `spec`. `detailed` traces to count FLOPs and times computations for a
    few seconds (`measuring`; it needs `rates` for seconds). `records`: a results directory of an
    earlier run of this spec, whose records tell the learners what they cannot know before
    running (`CostContext.recorded`: how long a training `until` a rule took); or those facts
    themselves as `recorded` (`recorded_facts` of another version of the spec). `stored`: the kernel
    store the run will read, whose tiles the learners leave out of their counts (`CostContext.stored`)."""
    if recorded is None:
        recorded = recorded_facts(spec.as_dict(), records) if records is not None else {}
    if not detailed:
        return _plan_cells(spec, detailed, rates, recorded, stored)
    from ..numerics._costs import measuring
    from ..numerics._measured import save

    with measuring():
        plans = _plan_cells(spec, detailed, rates, recorded, stored)
    save()
    return plans


def plan_spectra(spec: Spec, *, detailed: bool, rates: dict[str, float] | None = None) -> list[CellPlan]:
    """Estimate every spectrum of `spec` (`spectral_units`; empty without a `spectrum` section): the
    learner's own estimate of its kernel on the pool's M samples (a cell of M training samples and no
    test set, the seed's first; for a kernel learned per cell that counts its training on M samples,
    an upper bound), with its factorisation replaced by the eigendecomposition's
    `EIGH_FLOPS_PER_CUBE * M^3`, and the float64 matrix and eigenvectors in memory."""
    if spec.spectrum is None:
        return []
    if not detailed:
        return _plan_spectra(spec, detailed, rates)
    from ..numerics._costs import measuring
    from ..numerics._measured import save

    with measuring():
        plans = _plan_spectra(spec, detailed, rates)
    save()
    return plans


def _plan_spectra(spec: Spec, detailed: bool, rates: dict[str, float] | None) -> list[CellPlan]:
    from ._spectrum_work import spectral_units

    pool = spec.spectrum.pool
    input_shape, num_classes, data_bytes, architectures, learners = _planning(spec)
    estimates: dict[tuple, tuple[CellCost | None, float | None]] = {}
    plans = []
    for unit in spectral_units(spec, {choice.id: choice.plugin for choice in spec.learners}):
        key = (unit.learner_id, unit.width)
        if key not in estimates:
            context = CostContext(
                architecture=architectures[unit.width], input_shape=tuple(input_shape), num_classes=num_classes,
                n_train=pool, n_train_max=pool, n_test=0, first_of_seed=True, detailed=detailed, seeds=1, seed_index=0,
                pool_size=spec.dataset.instantiate().pool_size(),
            )
            kernel = learners[unit.learner_id].estimate_cost(context)
            cost = None if kernel is None else dataclasses.replace(
                kernel, factor_flops=EIGH_FLOPS_PER_CUBE * pool**3, peak_bytes=kernel.peak_bytes + data_bytes + 3 * 8 * pool**2,
            )
            estimates[key] = (cost, cost.seconds(rates) if cost is not None and rates else None)
        plans.append(CellPlan(unit, *estimates[key]))
    return plans


def _planning(spec: Spec) -> tuple[tuple[int, ...], int, int, dict[int | None, Any], dict[str, Any]]:
    """What every estimate of a spec needs: the input shape, the classes, the bytes of the data, the
    architecture at each width and the learners.

    **Raises:** `InputError` for a dataset that does not say its input shape.
    """
    dataset = spec.dataset.instantiate()
    input_shape, num_classes = dataset.input_shape(), dataset.num_classes() or FALLBACK_CLASSES
    if input_shape is None:
        raise InputError(f"{spec.source}: dataset {spec.dataset.name!r} does not say its input shape; cannot plan")
    data_bytes = 4 * math.prod(input_shape) * ((dataset.pool_size() or 0) + spec.dataset.options.n_test)
    architectures = {width: spec.architecture_at(width).instantiate() for width in widths_of(spec.as_dict())}
    return tuple(input_shape), num_classes, data_bytes, architectures, {choice.id: choice.instantiate() for choice in spec.learners}


def _plan_cells(
    spec: Spec, detailed: bool, rates: dict[str, float] | None, recorded: RecordedFacts, stored: StoredShares | None
) -> list[CellPlan]:
    spec_dict = spec.as_dict()
    input_shape, num_classes, data_bytes, architectures, learners = _planning(spec)
    pool = spec.dataset.instantiate().pool_size()
    smallest = min(spec.n_train)
    estimates: dict[tuple, tuple[CellCost | None, float | None]] = {}
    plans = []
    for cell in cells_of(spec_dict):
        first = cell.n_train == smallest
        seed_index = spec.seeds.index(cell.seed)
        # Work shared between seeds is counted at the first seed's first cell: only first cells
        # are estimated apart for the first seed and the others.
        # With a kernel store, what it holds differs between the seeds' first cells.
        key = (cell.learner_id, cell.width, cell.n_train, first, first and seed_index == 0,
               cell.seed if first and stored is not None else None)
        for estimate in [key, (*key[:3], False, False, None)] if first else [key]:
            if estimate in estimates:
                continue
            context = CostContext(
                architecture=architectures[cell.width],
                input_shape=tuple(input_shape),
                num_classes=num_classes,
                n_train=cell.n_train,
                n_train_max=max(spec.n_train),
                n_test=spec.dataset.options.n_test,
                first_of_seed=estimate[3],
                detailed=detailed,
                seeds=len(spec.seeds),
                seed_index=seed_index,
                pool_size=pool,
                n_train_values=tuple(sorted(spec.n_train)),
                recorded=_at_n(recorded.get((cell.learner_id, cell.width), {}), cell.n_train),
                stored=None if stored is None else stored.of_seed(cell.seed),
            )
            cost = learners[cell.learner_id].estimate_cost(context)
            if cost is not None:
                cost = dataclasses.replace(cost, peak_bytes=cost.peak_bytes + data_bytes)
            seconds = cost.seconds(rates) if cost is not None and rates else None
            estimates[estimate] = (cost, seconds)
        plans.append(CellPlan(cell, *estimates[key], estimates[(*key[:3], False, False, None)] if first else None))
    return plans


def planned_seconds(spec: Spec) -> dict[Cell, float]:
    """Each cell's seconds as the plan counts them, for a run's ETA: traced, with what earlier plans
    timed (nothing is timed here, so a run starts at once). Cells a learner does not estimate are
    absent, and so is every cell when the estimates fail: the ETA then counts cells."""
    import warnings

    from ._resources import calibration

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a computation the plan cannot trace is the plan's to report
            plans = _plan_cells(spec, True, calibration(), {}, None)
    except Exception:  # noqa: BLE001 - a plugin's estimate that fails costs the run its weighted ETA, nothing more
        return {}
    return {plan.cell: plan.seconds for plan in plans if plan.seconds is not None}


def recorded_facts(spec_dict: dict[str, Any], directory: str | Path) -> RecordedFacts:
    """Per (learner, width) and n: the numeric facts of the successful records of the cells of
    `spec_dict` (a spec's canonical dict) in `directory` (their `info`), averaged over seeds.
    Nothing for a directory without records."""
    if not (Path(directory) / SPEC_FILE).exists():
        return {}
    sums: dict[tuple, dict[int, dict[str, list[float]]]] = {}
    for cell, record in RecordStore(directory).load(spec_dict, set_aside=False).current.items():
        if not record.ok:
            continue
        facts = sums.setdefault((cell.learner_id, cell.width), {}).setdefault(cell.n_train, {})
        for name, value in record.info.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                facts.setdefault(name, []).append(float(value))
    return {
        key: {n: {name: sum(values) / len(values) for name, values in facts.items()} for n, facts in by_n.items()}
        for key, by_n in sums.items()
    }


def _at_n(by_n: dict[int, dict[str, float]], n: int) -> dict[str, float]:
    """The facts at n: recorded there, else a power law in n through the two nearest n recorded
    (the end segment's, beyond them; constant with one n recorded)."""
    if n in by_n or not by_n:
        return dict(by_n.get(n, {}))
    known = sorted(by_n)
    below, above = [m for m in known if m < n], [m for m in known if m > n]
    pair = (below[-1], above[0]) if below and above else tuple(known[-2:] if below else known[:2])
    facts = {}
    for name in set(by_n[pair[0]]).intersection(*(by_n[m] for m in pair)):
        values = [by_n[m][name] for m in pair]
        if len(pair) == 1 or min(values) <= 0:
            facts[name] = values[-1] if n > pair[-1] else values[0]
            continue
        slope = math.log(values[1] / values[0]) / math.log(pair[1] / pair[0])
        facts[name] = values[0] * (n / pair[0]) ** slope
    return facts


def over_budget(plans: list[CellPlan], budget: int) -> list[CellPlan]:
    return [plan for plan in plans if plan.cost is not None and plan.cost.peak_bytes > budget]


def budget_refusal(spec: Spec, plans: list[CellPlan], budget: int) -> str:
    """The message of `ntkbench run` refusing a spec whose cells need more memory than the budget."""
    worst = sorted(over_budget(plans, budget), key=lambda p: -p.cost.peak_bytes)
    shown = "\n".join(f"  {plan.cell.label()}: {format_bytes(plan.cost.peak_bytes)}" for plan in worst[:10])
    more = f"\n  ... and {len(worst) - 10} more" if len(worst) > 10 else ""
    return (
        f"{spec.source}: {len(worst)} cell(s) need more memory than the budget of {format_bytes(budget)}:\n"
        f"{shown}{more}\nLower the largest n_train or n_test (or spectrum.pool), raise --memory-budget, or run with --force."
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
    spectra = plan_spectra(spec, detailed=False)
    plans = plan_spec(spec, detailed=False) + spectra
    if over_budget(plans, budget):
        dense = (
            "\nA spectrum eigendecomposes its pool's kernel in float64 (the matrix and its eigenvectors held): "
            "no iterative solver applies to it, so lower spectrum.pool."
            if over_budget(spectra, budget) else ""
        )
        raise InputError(budget_refusal(spec, plans, budget) + dense)

"""Cost estimates for `ntkbench plan`: the FLOPs and memory of a cell's computations (a kernel tile,
training steps) read from their jaxprs without compiling them (`_jaxpr_costs.py`), scaled to the
cell, plus what the cell holds in memory; and, while the plan's measuring time lasts, one timed run
of a small instance of each computation, which turns its FLOPs into seconds on this device."""

from __future__ import annotations

import contextlib
import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import export

from ..api import MAX_PARAMETERS, CellCost, CostContext, InputError, memory_budget
from ._jaxpr_costs import TracedCost, trace_cost, traceable
from ._iterative_solve import LANDMARKS, ROW_BLOCK, solves_iteratively
from ._kernels import (
    MAX_TILE,
    MEMMAP_BYTES,
    MIN_TILE,
    TILE_MEMORY_FRACTION,
    feature_capacity,
    feature_computations,
    network_structure,
    tile_size,
)
from ._measured import recall, remember, text_key
from ._ridge_search import FULL_GRID_RIDGES, SEARCH_RADIUS, SHIFTED_SOLVE_ROWS, shift_iterations
from ._networks import split_model, trainable
from ..api import TrainingOptions
from ._optimizers import build_optimizer
from ._training_steps import STEPS_PER_CALL, padded_rows, train_steps

FLOAT32, FLOAT64 = 4, 8


MEASURING_SECONDS = 3.0
"""Wall time one plan spends compiling and timing computations (`measuring`); a computation not
timed by then is counted at the device's GEMM rate (a lower bound), and what was timed is kept,
so the next plan times more."""
TIMED_FLOPS_LIMIT = 1e9
"""A timed kernel tile does at most this much work: under a second even for work that runs at 1% of
the GEMM rate (a CNN's infinite NTK on a CPU)."""
TIMED_TRAINING_FLOPS_LIMIT = 1e10
"""Timed training steps do at most this much work: a network's products run at a tenth of the GEMM
rate or better, so well under a second."""
TIMING_EDGE = 32
"""Kernel tiles are timed at this edge or below (the largest power of two within `TIMED_FLOPS_LIMIT`)."""
MIN_TIMING_EDGE = 2
"""The smallest kernel tile timed: a kernel too costly to time at this edge is counted at the GEMM rate."""

_MEASURING_LEFT = 0.0
_MEASURING_DEPTH = 0
_TRACED: dict[str, TracedCost | None] = {}


@contextlib.contextmanager
def measuring(seconds: float | None = None) -> Iterator[None]:
    """Within this block, estimates may compile and time computations for `seconds` (by default
    `MEASURING_SECONDS`) of wall time in all; outside, they only trace. A block inside another
    shares the outer one's time (several plans of one sizing measure for a few seconds in all).
    Measurements are kept across processes (`_measured.py`)."""
    global _MEASURING_LEFT, _MEASURING_DEPTH
    before = _MEASURING_LEFT
    if _MEASURING_DEPTH == 0:
        _MEASURING_LEFT = MEASURING_SECONDS if seconds is None else seconds
    _MEASURING_DEPTH += 1
    try:
        yield
    finally:
        _MEASURING_DEPTH -= 1
        if _MEASURING_DEPTH == 0:
            _MEASURING_LEFT = before


def measured_seconds(name: Any, fn: Callable, *arguments: Any) -> float | None:
    """Seconds of one run of `jax.jit(fn)(*arguments)` on zeros (after a first run), measured once
    per device for the computation that `name` names and kept; None when it was never measured and
    the measuring time is spent. `arguments` as in `trace_cost` (concrete shapes)."""
    global _MEASURING_LEFT
    key = text_key(repr(name))
    kept = recall("seconds", key)
    if kept is not None or _MEASURING_LEFT <= 0:
        return kept
    started = time.perf_counter()
    seconds = _time(fn, arguments)
    _MEASURING_LEFT -= time.perf_counter() - started
    remember("seconds", key, seconds)
    return seconds


def _time(fn: Callable, arguments: tuple) -> float:
    """Compile `fn` for these shapes, run it on zeros once, and time a second run."""
    function, dynamic = traceable(fn, arguments)
    compiled = jax.jit(function).lower(dynamic).compile()
    zeros = jax.tree_util.tree_map(lambda leaf: jnp.zeros(leaf.shape, leaf.dtype), dynamic)
    jax.block_until_ready(compiled(zeros))
    started = time.perf_counter()
    jax.block_until_ready(compiled(zeros))
    return time.perf_counter() - started


def traced(name: Any, fn: Callable, *arguments: Any, peaks_at: Sequence[Mapping[str, int]] | None = None) -> TracedCost | None:
    """`trace_cost(fn, *arguments, peaks_at=...)`, once per device for the computation that `name`
    names (kept: `_measured.py`); None, with a warning, for a computation JAX cannot trace (a
    plugin's NumPy code): the plan then gives no FLOPs for it."""
    key = text_key(repr(name))
    if key not in _TRACED:
        kept = recall("traced", key)
        if kept is not None:
            _TRACED[key] = TracedCost.from_json(kept)
        else:
            try:
                _TRACED[key] = trace_cost(fn, *arguments, peaks_at=peaks_at)
            except Exception as error:  # noqa: BLE001 - any failure to trace means: no estimate, said once
                warnings.warn(f"ntkbench plan: cannot trace {name[0]} ({type(error).__name__}: {error}); its FLOPs are unknown",
                              stacklevel=2)
                _TRACED[key] = None
            if _TRACED[key] is not None:
                remember("traced", key, _TRACED[key].as_json())
    return _TRACED[key]


def _tiles(rows: int, columns: int, symmetric: bool, max_tile: int) -> tuple[int, int, int]:
    """(tile rows, tile columns, number of tiles) as `evaluate_tiled` computes them."""
    tile_rows, tile_columns = tile_size(rows, max_tile), tile_size(columns, max_tile)
    blocks_rows, blocks_columns = -(-rows // tile_rows), -(-columns // tile_columns)
    count = blocks_rows * (blocks_rows + 1) // 2 if symmetric else blocks_rows * blocks_columns
    return tile_rows, tile_columns, count


def union_kernel_pays(union: int, seeds: int, n_train_max: int, n_test: int, budget: int | None = None) -> bool:
    """Whether one kernel on the union (`union` samples) of `seeds` seeds' largest training sets
    takes fewer kernel entries than one kernel per seed, and fits the memory budget beside one
    seed's factorisation.

    It pays when the sets overlap much: 5 seeds of 2^15 CIFAR-10 samples (of 50000) cover about
    49700 samples, 2.2x fewer entries than 5 kernels on 2^15; 5 seeds of 4096 Fashion-MNIST
    samples (of 60000) cover about 17900, 3.8x more entries than 5 kernels on 4096.
    """
    union_entries = union * (union + 1) / 2 + n_test * union
    per_seed_entries = seeds * (n_train_max * (n_train_max + 1) / 2 + n_test * n_train_max)
    held = FLOAT32 * union * (union + n_test) + (FLOAT32 + FLOAT64) * n_train_max**2  # the union's kernels, one seed's blocks
    return seeds > 1 and union_entries < per_seed_entries and held <= (memory_budget() if budget is None else budget)


def expected_union_size(pool: int, n: int, seeds: int) -> int:
    """Expected size of the union of `seeds` random n-subsets of a pool of `pool` samples."""
    return round(pool * (1 - (1 - n / pool) ** seeds))


def _shared_union(context: CostContext) -> int | None:
    """The union's expected size when the run will share one kernel between the seeds, else None."""
    if context.pool_size is None:
        return None
    union = expected_union_size(context.pool_size, context.n_train_max, context.seeds)
    return union if union_kernel_pays(union, context.seeds, context.n_train_max, context.n_test) else None


ROWS, COLUMNS = export.symbolic_shape("rows, columns")
TILE_EDGES = tuple({"rows": 1 << power, "columns": 1 << power} for power in range(MAX_TILE.bit_length()))
"""The square tiles whose memory a plan compares with the budget: every power of two up to `MAX_TILE`."""


@dataclasses.dataclass(frozen=True)
class KernelComputation:
    """A kernel as the plan sees it: `fn(*arguments, x1, x2)` (the `arguments` may be abstract, a
    network's `jax.ShapeDtypeStruct` leaves) and the name of its computation (not of its
    parameters: `empirical_ntk_key`, or the architecture's options for an infinite NTK)."""

    fn: Callable
    arguments: tuple
    name: Any
    description: Mapping[str, Any] | None = None
    """What the kernel is, as the run keeps it in the kernel store (`infinite_kernel_description`):
    with it, the plan leaves out the tiles the store holds. None: the kernel is counted whole."""
    features: Callable | None = None
    """For a `BlockKernel`, whose per-example work `evaluate_tiled` keeps per block:
    `features(*arguments, x)`, so that the plan counts that work once per block computed (see
    `feature_computations`) instead of twice per tile."""
    example_bytes: float | None = None
    """The bytes of one example's `features`, when known without tracing them."""

    def feature_cost(self, input_shape: tuple[int, ...]) -> TracedCost | None:
        """The cost of one block of `rows` inputs' features (one trace, a symbolic size); None without `features`."""
        if self.features is None:
            return None
        x = jax.ShapeDtypeStruct((ROWS, *input_shape), jnp.float32)
        return traced(("kernel features", self.name, input_shape), self.features, *self.arguments, x, peaks_at=())

    def feature_bytes(self, input_shape: tuple[int, ...], edge: int) -> int:
        """The bytes of one block of `edge` inputs' features."""
        if self.example_bytes is not None:
            return int(edge * self.example_bytes)
        x = jax.ShapeDtypeStruct((edge, *input_shape), jnp.float32)
        shapes = jax.eval_shape(lambda *arguments: self.features(*arguments, x), *self.arguments)
        return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(shapes))

    def cost(self, input_shape: tuple[int, ...]) -> TracedCost | None:
        """The cost of one tile of `rows` x `columns` inputs (one trace, symbolic sizes); None for a
        kernel that cannot be traced with symbolic sizes (a plugin's NumPy code)."""
        x1, x2 = (jax.ShapeDtypeStruct((size, *input_shape), jnp.float32) for size in (ROWS, COLUMNS))
        return traced(("kernel", self.name, input_shape), self.fn, *self.arguments, x1, x2, peaks_at=TILE_EDGES)

    def seconds(self, input_shape: tuple[int, ...], edge: int) -> float | None:
        """One `edge` x `edge` tile, timed (`measured_seconds`)."""
        tile = jax.ShapeDtypeStruct((edge, *input_shape), jnp.float32)
        return measured_seconds(("kernel tile", self.name, input_shape, edge), self.fn, *self.arguments, tile, tile)


@dataclasses.dataclass(frozen=True)
class _KernelWork:
    edge: int
    """The tile edge the run is expected to use: the largest within the memory budget."""
    flops: float
    tile_bytes: int


def _kernel_work(cost: TracedCost, n_kernel: int, n_test: int, budget: int,
                 blocks: tuple[TracedCost, Callable[[int], int]] | None = None) -> _KernelWork:
    """The tiles of a kernel on `n_kernel` samples (symmetric) and of its `n_test` test rows, at the
    largest edge whose tile's peak memory is within `TILE_MEMORY_FRACTION` of `budget` (as
    `tile_edge` chooses for the run, with XLA's memory analysis where this has the jaxpr's). For a
    `BlockKernel`, `blocks` is the cost of one block's features and their bytes at an edge: each
    tile then counts only its combination, and the features count once per block computed."""
    edge = min(MAX_TILE, tile_size(max(n_kernel, n_test)))
    while edge > MIN_TILE and cost.peak_bytes(rows=edge, columns=edge) > TILE_MEMORY_FRACTION * budget:
        edge //= 2
    flops = 0.0
    for rows, symmetric in ((n_kernel, True), (n_test, False)):
        tile_rows, tile_columns, count = _tiles(rows, n_kernel, symmetric, edge)
        tile_flops = cost.flops(rows=tile_rows, columns=tile_columns)
        if blocks is None:
            flops += count * tile_flops
            continue
        features, block_bytes = blocks
        per_rows, per_columns = features.flops(rows=tile_rows), features.flops(rows=tile_columns)
        capacity = feature_capacity(block_bytes(max(tile_rows, tile_columns)), budget)
        computed = feature_computations(-(-rows // tile_rows), -(-n_kernel // tile_columns), capacity, symmetric)
        flops += count * max(tile_flops - per_rows - per_columns, 0.0) + computed * max(per_rows, per_columns)
    return _KernelWork(edge, flops, cost.peak_bytes(rows=edge, columns=edge))


CG_PLANNED_ITERATIONS = 100
"""The conjugate-gradient iterations a plan counts per solve (records say how many each took)."""


SHIFT_PLANNED_ITERATIONS = 10
"""The iterations the plan counts for each `ShiftedFactor` solve of a ridge search (a few where the
kernel's spectrum lies above the ridges, up to `shift_iterations` where it does not)."""


def ridge_factor_flops(ridges: int, n_factor: int, sizes: Sequence[int] = (), classes: int = 1) -> float:
    """The FLOPs of a seed's solves choosing among `ridges` on a kernel of `n_factor` rows (as
    `choose_ridges` searches): every ridge factored at the second-largest of `sizes` (with one size,
    at half of it), and about `2 SEARCH_RADIUS + 1` ridges at the largest, all factored at or below
    `SHIFTED_SOLVE_ROWS` rows, or one factored and the others solved from its factor above, each
    `SHIFT_PLANNED_ITERATIONS` of two triangular solves for `classes` columns. A size swept alone
    above `SHIFTED_SOLVE_ROWS` (the pilot half of one size) is counted the same way."""

    def searched(count: int, rows: int) -> float:
        factorisation = rows**3 / 3
        if rows <= SHIFTED_SOLVE_ROWS or count == 1:
            return count * factorisation
        iterations = min(SHIFT_PLANNED_ITERATIONS, shift_iterations(rows))
        return factorisation + (count - 1) * iterations * 2.0 * rows * rows * classes

    if ridges <= FULL_GRID_RIDGES:
        return ridges * n_factor**3 / 3
    largest = searched(min(ridges, 2 * SEARCH_RADIUS + 1), n_factor)
    smaller = [n for n in sizes if n < n_factor]
    if not smaller:
        return searched(ridges, n_factor // 2) + largest
    return ridges * max(smaller) ** 3 / 3 + largest


def _blocks(kernel: KernelComputation, input_shape: tuple[int, ...]) -> tuple[TracedCost, Callable[[int], int]] | None:
    """A `BlockKernel`'s per-block features, as `_kernel_work` counts them (None: a plain kernel)."""
    features = kernel.feature_cost(input_shape)
    return None if features is None else (features, lambda edge: kernel.feature_bytes(input_shape, edge))


def kernel_regression_cost(
    kernel: KernelComputation | None,
    context: CostContext,
    per_seed: bool = True,
    same_for_every_seed: bool = False,
    ridges: int = 1,
    solver: str = "auto",
) -> CellCost:
    """A kernel learner's cell: the seed's kernel and its factorisation at the first cell, solves after.

    The kernel's tiles are counted from one trace of a tile (only when `context.detailed`), and one
    small tile is timed while the plan's measuring time lasts. `per_seed` and
    `same_for_every_seed` as in `regress_with_kernel`: a kernel shared by the seeds (when
    `union_kernel_pays` for the expected union of their sets) is computed at the first seed's
    first cell and held for the run; every seed factors its own block. `ridges`: how many ridges
    are tried (one factorisation each; the validation rows are not counted). The share of a
    seed's kernel that the kernel store holds (`context.stored`, for a kernel with a `description`)
    is left out; a kernel shared by the seeds is counted whole.

    A kernel solved by conjugate gradients (`solver`, see `regress_with_kernel`) is held in float32,
    memory-mapped from disk above `MEMMAP_BYTES` (that part is not counted as memory), and each
    cell's solve counts `CG_PLANNED_ITERATIONS` products with it and with its preconditioner, for
    every ridge tried at that size, besides building the preconditioner; no factorisation."""
    n_factor = context.n_train_max if per_seed else context.n_train
    union = _shared_union(context) if per_seed and same_for_every_seed else None
    n_kernel = n_factor if union is None else union  # the samples the kernel is computed on
    n = context.n_train
    iterative = solves_iteratively(n_factor, solver)
    read = 0.0
    if iterative:
        landmarks = max(1, min(LANDMARKS, n_factor // 2))
        held = (min(FLOAT32 * n_factor * n_factor, MEMMAP_BYTES) + FLOAT64 * n_factor * (landmarks + ROW_BLOCK)
                + context.n_test * n_factor * FLOAT32)
        tried = 2 * SEARCH_RADIUS + 1 if ridges > 1 else 1
        per_iteration = 2.0 * n * n * context.num_classes + 4.0 * n * landmarks * context.num_classes
        solve = tried * (CG_PLANNED_ITERATIONS * per_iteration + 2.0 * n * landmarks**2) + 2.0 * context.n_test * n * context.num_classes
        if FLOAT32 * n_factor * n_factor > MEMMAP_BYTES:  # every product reads the n x n block from disk
            read = tried * CG_PLANNED_ITERATIONS * FLOAT32 * n * n
    else:
        held = n_factor * n_factor * FLOAT64 + context.n_test * n_factor * FLOAT32
        solve = 2.0 * n * n * context.num_classes + 2.0 * context.n_test * n * context.num_classes
    if union is not None:
        held += FLOAT32 * union * (union + context.n_test)
    if per_seed and not context.first_of_seed:  # the seed's kernel and factor exist: only solves
        return CellCost(held, solve, read_bytes=read)
    # One ridge: the training kernel is assembled straight into its float64 factor. A ridge list
    # factors the float32 kernel once per ridge, and a union's seeds take float32 blocks: both held.
    peak = held + (n_factor * n_factor * FLOAT32 if not iterative and (union is not None or ridges > 1) else 0)
    cost = None if not context.detailed or kernel is None else kernel.cost(context.input_shape)
    if cost is None:
        return CellCost(peak)
    factor_flops = 0.0 if iterative else ridge_factor_flops(ridges, n_factor, context.n_train_values if per_seed else (),
                                                               context.num_classes)
    if union is not None and context.seed_index > 0:  # the union's kernel exists: take the block, factor it
        return CellCost(peak, solve, factor_flops, read_bytes=read)
    float32_kernels = (min(FLOAT32 * n_kernel * n_kernel, MEMMAP_BYTES) if iterative else FLOAT32 * n_kernel * n_kernel
                       ) + FLOAT32 * n_kernel * context.n_test
    work = _kernel_work(cost, n_kernel, context.n_test, max(memory_budget() - float32_kernels, 0),
                        _blocks(kernel, context.input_shape))
    if per_seed and union is None and context.stored is not None and kernel.description is not None:
        work = dataclasses.replace(work, flops=work.flops * (1.0 - context.stored(kernel.description, work.edge)))
    # A small tile is timed: its seconds per FLOP stand for the kernel's (a tile's work is its
    # examples' Jacobians, linear in the edge, and their contraction, quadratic: both counted).
    timing_edge = min(work.edge, TIMING_EDGE)
    while timing_edge > MIN_TIMING_EDGE and cost.flops(rows=timing_edge, columns=timing_edge) > TIMED_FLOPS_LIMIT:
        timing_edge //= 2
    timing_flops = cost.flops(rows=timing_edge, columns=timing_edge)
    seconds = kernel.seconds(context.input_shape, timing_edge) if timing_flops <= TIMED_FLOPS_LIMIT else None
    if seconds is None or timing_flops <= 0:
        return CellCost(peak + work.tile_bytes, work.flops + solve, factor_flops, read_bytes=read)
    return CellCost(peak + work.tile_bytes, work.flops + solve, factor_flops, work.flops,
                    seconds * work.flops / timing_flops, read_bytes=read)


STEP_FREE_FIELDS = frozenset({"steps", "epochs", "until", "max_steps", "check_every", "patience"})
"""Training options that set how many steps a network takes, not what one step computes."""


def training_cost(
    model: Any, options: TrainingOptions, context: CostContext, n: int, members: int = 1, steps: float | None = None
) -> CellCost:
    """Training the network for its budget on n samples: one step traced (its FLOPs and memory), ten
    (or one, for a costly step) timed while the plan's measuring time lasts, scaled to the budget. `model` may be abstract
    (`initial_model`). An `until` rule counts the `steps` earlier runs took (`context.recorded`),
    else all of `max_steps` (an upper bound). `members` networks trained as one computation
    (`train_networks`) hold their arrays together and do each its work: one per learning rate of
    a list, times `members`."""
    rates = options.learning_rates()
    if rates is not None:
        return training_cost(model, options.at_learning_rate(rates[0]), context, n, members * len(rates), steps)
    if members > 1:
        one = training_cost(model, options, context, n, steps=steps)
        return dataclasses.replace(
            one, peak_bytes=members * one.peak_bytes, flops=None if one.flops is None else members * one.flops,
            timed_flops=members * one.timed_flops, timed_seconds=members * one.timed_seconds,
        )
    module, state = split_model(model)
    parameters = parameter_count(module)
    inputs = int(np.prod(context.input_shape))
    data = padded_rows(n, inputs * FLOAT32) * (inputs + context.num_classes) * FLOAT32  # as `train_network` pads it
    held = 3 * parameters * FLOAT32 + data  # parameters, gradients, optimiser state
    if not context.detailed:
        return CellCost(held)
    unknown = options.until is not None and steps is None  # an `until` rule counted at its whole budget
    budget = options.step_budget(n)
    calls = (budget if options.until is None or steps is None else min(steps, budget)) / STEPS_PER_CALL
    # A training set smaller than a batch is the batch: a step's work scales with its rows.
    calls *= min(options.batch_size, n) / options.batch_size
    # A step's work is the same at any learning rate, step budget or stopping rule: networks that
    # differ only there share one trace and one timing.
    same_step = options.model_copy(update={"optimizer": options.optimizer.model_copy(update={"learning_rate": 1.0})})
    training = same_step.model_dump_json(include=set(TrainingOptions.model_fields) - STEP_FREE_FIELDS)
    name = (network_structure(module), training, context.input_shape, context.num_classes)
    fn, arguments = _training_steps(module, state, options, context, budget)
    cost = traced(("training step", name), fn, *arguments(1))
    if cost is None:
        return CellCost(held, upper_bound=unknown)
    flops = cost.flops() * STEPS_PER_CALL * calls
    timed_steps = next((count for count in (STEPS_PER_CALL, 1) if count * cost.flops() <= TIMED_TRAINING_FLOPS_LIMIT), None)
    seconds = None if timed_steps is None else measured_seconds(("training steps", name, timed_steps), fn, *arguments(timed_steps))
    if seconds is None:
        return CellCost(held + cost.peak_bytes(), flops, upper_bound=unknown)
    return CellCost(held + cost.peak_bytes(), flops, 0.0, flops, seconds * STEPS_PER_CALL / timed_steps * calls, unknown)


def _training_steps(
    module: Any, state: Any, options: TrainingOptions, context: CostContext, budget: int
) -> tuple[Callable, Callable[[int], tuple]]:
    """`train_steps` at the options' batch size from the initial network (its optimiser state made
    within), and its arguments for a number of steps. The rows the batches are gathered from do
    not change a step's work: one batch's worth stands for any n (the data is counted apart)."""
    optimizer = build_optimizer(options, budget)
    rows = padded_rows(options.batch_size)

    def steps(module: Any, state: Any, x: jax.Array, y: jax.Array, offset: jax.Array, batches: jax.Array) -> tuple:
        opt_state = optimizer.init(eqx.filter(module, trainable(module)))
        return train_steps(module, state, opt_state, x, y, offset, batches, optimizer, options.loss, context.num_classes)

    def arguments(count: int) -> tuple:
        return (
            module, state, jax.ShapeDtypeStruct((rows, *context.input_shape), jnp.float32),
            jax.ShapeDtypeStruct((rows,), jnp.int32), jax.ShapeDtypeStruct((rows, context.num_classes), jnp.float32),
            jax.ShapeDtypeStruct((count, options.batch_size), jnp.int32),
        )

    return steps, arguments


def combine(*costs: CellCost) -> CellCost:
    """Costs of work done one after the other: FLOPs and times add, peak memory is the largest."""
    flops = [c.flops for c in costs]
    return CellCost(
        max(c.peak_bytes for c in costs),
        None if any(f is None for f in flops) else float(sum(flops)),
        sum(c.factor_flops for c in costs),
        sum(c.timed_flops for c in costs),
        sum(c.timed_seconds for c in costs),
        any(c.upper_bound for c in costs),
        sum(c.read_bytes for c in costs),
    )


def parameter_count(module: Any) -> int:
    """The inexact entries of a module, concrete or abstract (`jax.ShapeDtypeStruct` leaves)."""
    leaves = jax.tree_util.tree_leaves(module)
    return sum(leaf.size for leaf in leaves if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.inexact))


def initial_model(context: CostContext) -> Any:
    """The shapes of the cell's network at initialisation (`jax.ShapeDtypeStruct` leaves: nothing is
    allocated or computed; its costs do not depend on the seed).

    **Raises:** `InputError` for a network beyond `MAX_PARAMETERS`.
    """
    key = (type(context.architecture), context.architecture.options, context.input_shape, context.num_classes)
    if key not in _INITIAL_MODELS:  # every cell of a spec asks for the same network
        shapes = eqx.filter_eval_shape(
            lambda: context.architecture.init_model(
                input_shape=context.input_shape, num_classes=context.num_classes, key=jax.random.PRNGKey(0)
            )
        )
        count = parameter_count(split_model(shapes)[0])
        if count > MAX_PARAMETERS:
            raise InputError(
                f"the network of {type(context.architecture).__name__} has {count:.3g} parameters; ntkbench refuses "
                f"more than {MAX_PARAMETERS:.3g}: lower its width or depth"
            )
        _INITIAL_MODELS[key] = shapes
    return _INITIAL_MODELS[key]


_INITIAL_MODELS: dict[tuple, Any] = {}


def empirical_kernel(model: Any, context: CostContext, implementation: Any, contraction: str = "trace",
                     examples: int | None = None) -> KernelComputation:
    """The empirical NTK of `model` (abstract or concrete) as the plan counts it, for a kernel on
    `examples` inputs (default: the seed's largest training set). For `auto`, `native` where it
    applies (as the run chooses), else the implementation with the fewest FLOPs for the cell's
    largest kernel at the tile edge its memory allows (the run times them instead: its choice may
    differ where FLOPs do not rank the implementations' speed)."""
    from ..nt_compat import available_implementations
    from ._kernels import empirical_ntk, empirical_ntk_key, native_problem, native_strategies
    from ._structured_ntk import StructuredNTK, block_features, feature_bytes_per_example

    n_kernel = context.n_train_max if examples is None else examples
    budget = max(memory_budget() - FLOAT32 * n_kernel * (n_kernel + context.n_test), 0)

    def kernel(chosen: Any) -> KernelComputation:
        if chosen == "native":  # the strategies the run takes for a kernel on n_kernel inputs
            strategies = native_strategies(model, context.input_shape, contraction, n_kernel, budget)
            return KernelComputation(
                lambda network, a, b: StructuredNTK(network, contraction, strategies)(a, b), (model,),
                empirical_ntk_key(model, chosen, contraction, strategies),
                features=lambda network, x: block_features(network, x, contraction, strategies),
                example_bytes=feature_bytes_per_example(model, context.input_shape, contraction, strategies),
            )
        return KernelComputation(
            lambda network, a, b: empirical_ntk(network, a, b, chosen, contraction), (model,),
            empirical_ntk_key(model, chosen, contraction),
        )

    if implementation == "auto" and native_problem(model) is None:
        return kernel("native")
    if implementation != "auto":
        return kernel(implementation)
    work = {}
    for candidate in available_implementations():
        cost = kernel(candidate).cost(context.input_shape)
        if cost is not None:
            work[candidate] = _kernel_work(cost, n_kernel, context.n_test, budget).flops
    return kernel(min(work, key=work.get) if work else available_implementations()[0])

"""Cost estimates for `ntkbench plan`: XLA's own FLOP count and memory analysis of the compiled
work (a kernel tile, ten training steps), scaled to a cell, plus what a cell holds in memory."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from ..api import MAX_PARAMETERS, CellCost, CostContext, InputError, memory_budget
from ._kernels import compiled_facts, network_structure, tile_edge, tile_size
from ._measured import recall, remember, text_key
from ._networks import split_model, trainable
from ._options import TrainingOptions
from ._training import STEPS_PER_CALL, build_optimizer, padded_rows, train_steps

FLOAT32, FLOAT64 = 4, 8


TIMED_FLOPS_LIMIT = 5e10
"""Compiled work up to this many FLOPs (well under a second on a CPU) is run and timed by the estimate."""
TIMING_EDGE = 32
"""Kernel tiles are timed at this edge first (see `kernel_regression_cost`)."""
FULL_TILE_SECONDS = 1.0
"""A full kernel tile predicted to take at most this long is timed itself."""


@dataclasses.dataclass(frozen=True)
class CompiledCost:
    flops: float
    bytes: int
    """Temporaries, outputs and arguments."""
    seconds: float | None
    """One execution on zeros (after a first one), when `flops` is at most `TIMED_FLOPS_LIMIT`."""


def compiled_cost(fn: Callable, *arguments: Any, timed: bool = True, name: Any = None) -> CompiledCost:
    """XLA's FLOP count and memory of `jax.jit(fn)` on these shapes, and (with `timed`) its time when
    cheap to measure. Measured once for each distinct computation (by the text of its lowering,
    or by `name`, which names the computation and its shapes: then a known one is not even
    lowered), and kept across processes (`_measured.py`): the cells of a spec that run the same
    computation (a kernel tile, ten training steps) are compiled once, and a second plan
    compiles nothing."""
    suffix = "" if timed else ":untimed"
    named = None if name is None else text_key(repr(name)) + suffix
    kept = None if named is None else recall("compiled", named)
    if kept is None:
        lowered = jax.jit(fn).lower(*arguments)
        key = text_key(lowered.as_text()) + suffix
        kept = recall("compiled", key)
        if kept is None:
            cost = _measure(lowered, arguments, timed)
            kept = [cost.flops, cost.bytes, cost.seconds]
            remember("compiled", key, kept)
        if named is not None:
            remember("compiled", named, kept)
    return CompiledCost(*kept)


def lowered_flops(fn: Callable, *arguments: Any) -> float:
    """XLA's FLOP count of `jax.jit(fn)` on these shapes before optimisation: no compilation (it
    counts within about 10% of the compiled count)."""
    analysis = jax.jit(fn).lower(*arguments).cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return float((analysis or {}).get("flops", 0.0))


def _measure(lowered: Any, arguments: tuple, timed: bool = True) -> CompiledCost:
    compiled = lowered.compile()
    flops, used = compiled_facts(compiled)
    seconds = None
    if timed and flops <= TIMED_FLOPS_LIMIT:
        zeros = jax.tree_util.tree_map(
            lambda leaf: jnp.zeros(leaf.shape, leaf.dtype) if isinstance(leaf, jax.ShapeDtypeStruct) else leaf, arguments
        )
        jax.block_until_ready(compiled(*zeros))
        started = time.perf_counter()
        jax.block_until_ready(compiled(*zeros))
        seconds = time.perf_counter() - started
    return CompiledCost(flops, int(used), seconds)


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


def kernel_regression_cost(
    kernel_fn: Callable | None,
    context: CostContext,
    per_seed: bool = True,
    same_for_every_seed: bool = False,
    ridges: int = 1,
    key: Any = None,
) -> CellCost:
    """A kernel learner's cell: the seed's kernel and its factorisation at the first cell, solves after.

    `kernel_fn(x1, x2)` is compiled on one tile to count FLOPs (only when `context.detailed`).
    `per_seed` and `same_for_every_seed` as in `regress_with_kernel`: a kernel shared by the seeds
    (when `union_kernel_pays` for the expected union of their sets) is computed at the first
    seed's first cell and held for the run; every seed factors its own block.
    
    `ridges`: how many ridges are tried (one factorisation each; the validation rows are not counted).
    `key` names the kernel's computation (not its parameters), as `tile_edge` takes it: the
    measurements of a known kernel are then recalled without lowering it."""
    n_factor = context.n_train_max if per_seed else context.n_train
    union = _shared_union(context) if per_seed and same_for_every_seed else None
    n_kernel = n_factor if union is None else union  # the samples the kernel is computed on
    held = n_factor * n_factor * FLOAT64 + context.n_test * n_factor * FLOAT32
    if union is not None:
        held += FLOAT32 * union * (union + context.n_test)
    if per_seed and not context.first_of_seed:  # the seed's kernel and factor exist: only solves
        n = context.n_train
        return CellCost(held, 2.0 * n * n * context.num_classes + 2.0 * context.n_test * n * context.num_classes)
    peak = held + n_factor * n_factor * FLOAT32  # the float32 kernel and its float64 factor, briefly both
    if not context.detailed or kernel_fn is None:
        return CellCost(peak)
    if union is not None and context.seed_index > 0:  # the union's kernel exists: take the block, factor it
        return CellCost(peak, 0.0, ridges * n_factor**3 / 3)
    float32_kernels = FLOAT32 * n_kernel * (n_kernel + context.n_test)
    longest = tile_size(max(n_kernel, context.n_test))
    edge = tile_edge(
        kernel_fn, context.input_shape, key=key, budget=max(memory_budget() - float32_kernels, 0), at_most=longest
    )
    # One edge x edge tile is compiled (once per process and edge, see `compiled_cost`) and its cost
    # scaled by the entries: a kernel's work per entry hardly depends on the tile's shape. It is timed
    # first on a small tile; only when that predicts a cheap full tile (an MLP's kernels, which run
    # near the GEMM rate only in large tiles) is the full tile timed too. An expensive kernel (a
    # CNN's infinite NTK takes seconds per tile) keeps the small tile's time per entry.
    shape = jax.ShapeDtypeStruct((edge, *context.input_shape), jnp.float32)
    small = jax.ShapeDtypeStruct((min(edge, TIMING_EDGE), *context.input_shape), jnp.float32)
    names = [None if key is None else (key, context.input_shape, side.shape[0]) for side in (small, shape)]
    timing = compiled_cost(kernel_fn, small, small, name=names[0])
    cheap = timing.seconds is not None and timing.seconds * (edge / small.shape[0]) ** 2 <= FULL_TILE_SECONDS
    tile = compiled_cost(kernel_fn, shape, shape, timed=cheap, name=names[1])
    if tile.seconds is not None:
        timing = dataclasses.replace(timing, seconds=tile.seconds * (small.shape[0] / edge) ** 2)
    entries = sum(
        count * tile_rows * tile_columns
        for rows, symmetric in ((n_kernel, True), (context.n_test, False))
        for tile_rows, tile_columns, count in [_tiles(rows, n_kernel, symmetric, edge)]
    )
    scale = entries / edge**2
    timed_flops, timed_seconds = 0.0, 0.0
    if timing.seconds is not None:
        timed_flops, timed_seconds = tile.flops * scale, timing.seconds * entries / small.shape[0] ** 2
    return CellCost(peak + tile.bytes, tile.flops * scale, ridges * n_factor**3 / 3, timed_flops, timed_seconds)


def training_cost(
    model: Any, options: TrainingOptions, context: CostContext, n: int, members: int = 1, steps: float | None = None
) -> CellCost:
    """Training the network for its budget on n samples: ten compiled steps, scaled. An `until` rule
    counts the `steps` earlier runs took (`context.recorded`), else all of `max_steps` (an upper
    bound). `members` networks trained as one computation (`train_networks`) hold their arrays
    together and do each its work: one per learning rate of a list, times `members`."""
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
    data = n * (int(jnp.prod(jnp.array(context.input_shape))) + context.num_classes) * FLOAT32
    held = 3 * parameters * FLOAT32 + data  # parameters, gradients, optimiser state
    if not context.detailed:
        return CellCost(held)
    unknown = options.until is not None and steps is None  # an `until` rule counted at its whole budget
    budget = options.step_budget(n)
    calls = (budget if options.until is None or steps is None else min(steps, budget)) / STEPS_PER_CALL
    training = options.model_dump_json(include=set(TrainingOptions.model_fields))  # not a kernel learner's own options
    key = text_key(repr((network_structure(module), training, context.input_shape, context.num_classes)))
    kept = recall("training_steps", key)  # the same steps at every n: their work does not depend on n
    if kept is None:
        cost = _training_steps_cost(module, state, options, context, budget)
        kept = [cost.flops, cost.bytes, cost.seconds]
        remember("training_steps", key, kept)
    compiled = CompiledCost(*kept)
    # A training set smaller than a batch is the batch: a step's work scales with its rows.
    calls *= min(options.batch_size, n) / options.batch_size
    if compiled.seconds is None:
        return CellCost(held + compiled.bytes, compiled.flops * calls, upper_bound=unknown)
    return CellCost(
        held + compiled.bytes, compiled.flops * calls, 0.0, compiled.flops * calls, compiled.seconds * calls, unknown
    )


def _training_steps_cost(module: Any, state: Any, options: TrainingOptions, context: CostContext, budget: int) -> CompiledCost:
    """`STEPS_PER_CALL` training steps at the options' batch size: compiled and timed when cheap,
    else one step compiled (its FLOPs and memory) and counted ten times. The rows the batches are
    gathered from do not change a step's work: one batch's worth stands for any n (the data is
    counted apart)."""
    optimizer = build_optimizer(options, budget)
    opt_state = optimizer.init(eqx.filter(module, trainable(module)))
    rows = padded_rows(options.batch_size)
    x = jax.ShapeDtypeStruct((rows, *context.input_shape), jnp.float32)
    y = jax.ShapeDtypeStruct((rows,), jnp.int32)
    offset = jax.ShapeDtypeStruct((rows, context.num_classes), jnp.float32)

    def steps(count: int) -> tuple:
        return (
            lambda m, s, o, xs, ys, os_, bs: train_steps(m, s, o, xs, ys, os_, bs, optimizer, options.loss, context.num_classes),
            module, state, opt_state, x, y, offset, jax.ShapeDtypeStruct((count, options.batch_size), jnp.int32),
        )

    if lowered_flops(*steps(1)) * STEPS_PER_CALL <= TIMED_FLOPS_LIMIT:
        return compiled_cost(*steps(STEPS_PER_CALL))
    one = compiled_cost(*steps(1), timed=False)
    return dataclasses.replace(one, flops=one.flops * STEPS_PER_CALL)


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
    )


def parameter_count(module: Any) -> int:
    """The inexact entries of a module, concrete or abstract (`jax.ShapeDtypeStruct` leaves)."""
    leaves = jax.tree_util.tree_leaves(module)
    return sum(leaf.size for leaf in leaves if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.inexact))


def initial_model(context: CostContext) -> Any:
    """The cell's network at initialisation (with a fixed key: its cost does not depend on the seed).

    Without `context.detailed` only its shapes (nothing is allocated); with it, the network itself,
    once its shapes show that it is within `MAX_PARAMETERS`.

    **Raises:** `InputError` for a network beyond that.
    """
    key = (type(context.architecture), context.architecture.options, context.input_shape, context.num_classes, context.detailed)
    if key not in _INITIAL_MODELS:  # every cell of a spec asks for the same network

        def create() -> Any:
            return context.architecture.init_model(
                input_shape=context.input_shape, num_classes=context.num_classes, key=jax.random.PRNGKey(0)
            )

        shapes = eqx.filter_eval_shape(create)
        count = parameter_count(split_model(shapes)[0])
        if count > MAX_PARAMETERS:
            raise InputError(
                f"the network of {type(context.architecture).__name__} has {count:.3g} parameters; ntkbench refuses "
                f"more than {MAX_PARAMETERS:.3g}: lower its width or depth"
            )
        _INITIAL_MODELS[key] = create() if context.detailed else shapes
    return _INITIAL_MODELS[key]


_INITIAL_MODELS: dict[tuple, Any] = {}


def empirical_kernel_fn(
    model: Any, context: CostContext, implementation: Any, contraction: str = "trace"
) -> tuple[Callable, tuple]:
    """The empirical NTK of `model` with the implementation a run would use (timed on zeros for
    `auto`), and the key that names its computation (`empirical_ntk_key`)."""
    import numpy as np

    from ._kernels import empirical_ntk, empirical_ntk_key, resolve_implementation

    chosen = implementation
    if implementation == "auto":  # timed once per device, network and inputs (`_measured.py`)
        key = text_key(repr((network_structure(model), context.input_shape, contraction)))
        chosen = recall("fastest_implementation", key)
        if chosen is None:
            chosen = resolve_implementation(model, np.zeros((16, *context.input_shape), np.float32), "auto",
                                            contraction=contraction)
            remember("fastest_implementation", key, chosen)
    return (lambda a, b: empirical_ntk(model, a, b, chosen, contraction)), empirical_ntk_key(model, chosen, contraction)

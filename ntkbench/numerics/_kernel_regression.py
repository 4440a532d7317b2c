"""Kernel ridge regression of a cell, the part every kernel learner shares: the kernel of one seed, computed and factored once, then
regression for every n.

Training sets are nested, so the kernel on the largest training set of the seed (and between the
test set and it) holds every smaller training set's kernel as a leading block, and the Cholesky
factor of the largest regularised block holds every smaller one's. Both are computed at the
seed's first cell. The ridge is therefore relative to the mean diagonal of the seed's largest
training kernel (the same lambda for every n of the seed).

A kernel that depends only on the inputs (an infinite-width kernel) can also be shared between
seeds: computed once on the union of the seeds' largest training sets, when their overlap makes
that fewer kernel entries than one kernel per seed (see `union_pays`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from ..api import (
    AcrossSeeds,
    Architecture,
    InputError,
    LearnerResult,
    LearnerTask,
    RegressionKernel,
    StoredKernel,
    memory_budget,
)
from ._costs import union_kernel_pays
from ._kernel_identity import empirical_kernel_description
from ._ridge_search import RidgeChoice, choose_ridges
from ._structured_ntk import StructuredNTK
from ._iterative_solve import TOLERANCE, NystromPreconditioned, solve_facts, solves_iteratively
from ._kernel_ridge import FactoredKernel, factor_assembled, factor_kernel, kernel_ridge_predict, one_hot
from ._kernels import (
    Contraction,
    Implementation,
    empirical_ntk_fn,
    empirical_ntk_key,
    native_strategies,
    evaluate_tiled,
    MEMMAP_BYTES,
    resolve_implementation,
    tile_edge,
    tile_size,
)


Solver = Literal["auto", "cholesky", "cg"]
"""How `(K + λI) W = Y` is solved: `cholesky` (a factorisation in float64), `cg` (preconditioned
conjugate gradients over the float32 kernel, `NystromPreconditioned`), or `auto`: `cg` for a kernel
whose float64 factor does not fit the memory budget (`solves_iteratively`), else `cholesky`."""


@dataclasses.dataclass(frozen=True)
class Solving:
    """How a cell's regularised kernels are solved: `solver`, `cg`'s `tolerance`, and who hears its
    iterations (`LearnerTask.on_solve`, the run's progress display)."""

    solver: Solver = "auto"
    tolerance: float = TOLERANCE
    on_iteration: Callable[[int, float, float], None] | None = None

    def iterative(self, rows: int) -> bool:
        return solves_iteratively(rows, self.solver)

    def solve(self, kernel: np.ndarray, ridge: float) -> FactoredKernel | NystromPreconditioned:
        """`kernel + ridge` factored, or ready to be solved by conjugate gradients."""
        if self.iterative(len(kernel)):
            return NystromPreconditioned(kernel, ridge, tolerance=self.tolerance, on_iteration=self.on_iteration)
        return factor_kernel(kernel, ridge)


@dataclasses.dataclass(frozen=True)
class SeedKernel:
    factored: FactoredKernel | NystromPreconditioned
    """Cholesky factor of K(X_max, X_max) + lambda I for the seed's largest training set X_max (or,
    for a kernel solved iteratively, its preconditioned solver)."""
    test: np.ndarray
    """K(X_test, X_max), float32."""
    diagonal: np.ndarray
    kernel_seconds: float
    factor_seconds: float
    samples: int
    """How many training samples the kernel was computed on (X_max, or the union of the seeds' X_max)."""
    seeds_sharing: int = 1
    """How many seeds share that computation."""


def _kernel_edge(kernel_fn: Callable, x_train: np.ndarray, rows: int, kernel_key: Hashable | None, iterative: bool = False) -> int:
    """The tile edge for K(x_train, x_train) and `rows` more rows against x_train, within the memory
    budget less the kernels held while tiles are computed: the training one in float64, or for an
    `iterative` solve in float32 (memory-mapped from disk above `MEMMAP_BYTES`)."""
    n = len(x_train)
    held = (min(4 * n * n, MEMMAP_BYTES) if iterative else 8 * n * n) + 4 * n * rows
    longest = tile_size(max(len(x_train), rows))
    return tile_edge(kernel_fn, x_train.shape[1:], key=kernel_key, budget=max(memory_budget() - held, 0), at_most=longest)


def _train_and_test_kernels(
    kernel_fn: Callable, x_train: np.ndarray, x_test: np.ndarray, kernel_key: Hashable | None,
    stored: StoredKernel | None = None, iterative: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """K(x_train, x_train) and K(x_test, x_train), float32, in tiles that fit the memory budget (kept
    in `stored`'s kernel store, when given; see `_kernel_edge` for `iterative`)."""
    edge = _kernel_edge(kernel_fn, x_train, len(x_test), kernel_key, iterative)
    return (
        evaluate_tiled(kernel_fn, x_train, max_tile=edge, stored=stored),
        evaluate_tiled(kernel_fn, x_test, x_train, max_tile=edge, stored=stored),
    )


def _factored(train: np.ndarray, test: np.ndarray, ridge: float, kernel_seconds: float, solving: Solving,
              **facts: int) -> SeedKernel:
    started = time.perf_counter()
    diagonal = np.array(np.diag(train), dtype=np.float64)
    factored = solving.solve(train, ridge)
    return SeedKernel(factored, test, diagonal, kernel_seconds, time.perf_counter() - started, **facts)


def seed_kernel(
    kernel_fn: Callable, x_train: np.ndarray, x_test: np.ndarray, ridge: float, *, kernel_key: Hashable | None = None,
    stored: StoredKernel | None = None, solving: Solving = Solving(),
) -> SeedKernel:
    """The kernel of `x_train` (factored) and of `x_test` against it, in tiles that fit the memory
    budget. The training kernel is assembled straight into the float64 array that is factored in
    place, tile by tile (read from `stored`'s kernel store where it holds them): the factor is the
    only n x n array held. A kernel solved iteratively (`solving`, see `Solving`) is kept in float32
    (memory-mapped from disk when large) and read by the solver."""
    started = time.perf_counter()
    edge = _kernel_edge(kernel_fn, x_train, len(x_test), kernel_key, solving.iterative(len(x_train)))
    test = evaluate_tiled(kernel_fn, x_test, x_train, max_tile=edge, stored=stored)
    if solving.iterative(len(x_train)):
        train = evaluate_tiled(kernel_fn, x_train, max_tile=edge, stored=stored)
        return _factored(train, test, ridge, time.perf_counter() - started, solving, samples=len(x_train))
    assembled: list[tuple[np.ndarray, float]] = []  # the diagonal, and when the first assembly was done

    def assemble() -> np.ndarray:
        n = len(x_train)
        train = evaluate_tiled(kernel_fn, x_train, max_tile=edge, stored=stored, out=np.empty((n, n), dtype=np.float64))
        if not assembled:
            assembled.append((np.diag(train).copy(), time.perf_counter()))
        return train

    factored = factor_assembled(assemble, ridge)
    diagonal, kernel_done = assembled[0]
    return SeedKernel(factored, test, diagonal, kernel_done - started, time.perf_counter() - kernel_done, len(x_train))


def union_pays(across: AcrossSeeds, n_train_max: int, n_test: int) -> bool:
    """Whether the seeds of `across` should share one kernel on the union of their largest
    training sets (see `union_kernel_pays`)."""
    return union_kernel_pays(across.union_size, len(across.seeds), n_train_max, n_test)


def _union_blocks(
    kernel_fn: Callable, task: LearnerTask, kernel_key: Hashable | None, stored: StoredKernel | None
) -> tuple[np.ndarray, np.ndarray]:
    """The seed's blocks K(X_max, X_max) and K(X_test, X_max) of the kernel on the union of the seeds'
    largest training sets, which the first seed that asks computes."""
    across = task.across_seeds
    union_train, union_test = across.cache.get_or_create(
        "union_kernel", lambda: _train_and_test_kernels(kernel_fn, across.union_inputs(), task.x_test, kernel_key, stored)
    )
    positions = across.positions(task.seed)
    return union_train[np.ix_(positions, positions)], union_test[:, positions]


def _shared_seed_kernel(
    kernel_fn: Callable, task: LearnerTask, ridge: float, kernel_key: Hashable | None, stored: StoredKernel | None,
    solving: Solving,
) -> SeedKernel:
    """The seed's kernel, taken from the kernel on the union of the seeds' largest training sets.

    The first seed that asks computes the union's kernel, and its `kernel_seconds` include that
    time; the other seeds' include only taking their block.
    """
    started = time.perf_counter()
    train, test = _union_blocks(kernel_fn, task, kernel_key, stored)
    across = task.across_seeds
    return _factored(
        train, test, ridge, time.perf_counter() - started, solving, samples=across.union_size,
        seeds_sharing=len(across.seeds),
    )


def regress_with_kernel(
    kernel_fn: Callable,
    task: LearnerTask,
    ridge: float | Sequence[float],
    *,
    per_seed: bool = True,
    kernel_key: Hashable | None = None,
    same_for_every_seed: bool = False,
    kernel_description: Mapping[str, Any] | None = None,
    solver: Solver = "auto",
    tolerance: float = TOLERANCE,
) -> LearnerResult:
    """Kernel ridge regression of one-hot training labels with `kernel_fn(x1, x2)`, predicting the test inputs.

    With `per_seed` (the default) `kernel_fn` must be the same for every n of the seed: it is
    evaluated and factored once per seed and sliced. Otherwise it is evaluated on this cell's
    training set only. With `same_for_every_seed` too (the kernel depends only on the inputs, as
    an infinite-width kernel does), seeds computed by this process share one kernel on the union
    of their largest training sets when `union_pays`. The tile size follows the memory budget
    (see `tile_edge`); `kernel_key` names the kernel's computation (the same for every seed) so
    that it is measured only once. `kernel_description` says what determines the kernel's values
    (`RegressionKernel.description`): given, and the task has a kernel store, every tile is kept
    there as it is computed and read back by any later evaluation on the same inputs (a resumed
    run, another spec), bit for bit.

    `ridge` is relative to the mean diagonal of the training kernel. Given several, the one with the
    lowest error on the seed's validation samples (`task.validation`; ties: lowest squared error)
    is chosen for each n, and the record says which (see `choose_ridges`).

    `solver` says how each regularised kernel is solved (see `Solver`: by default a factorisation,
    or conjugate gradients to the relative residual `tolerance` for a kernel whose factor does not
    fit the memory budget); the record says which, with the iterations and residual of one.
    """
    stored = task.stored_kernel(kernel_description)
    solving = Solving(solver, tolerance, task.on_solve)
    if not isinstance(ridge, int | float):
        return _regress_choosing_ridge(kernel_fn, task, tuple(ridge), per_seed, kernel_key, same_for_every_seed, stored,
                                       solving)
    if per_seed:

        def create() -> SeedKernel:
            if same_for_every_seed and task.across_seeds and union_pays(task.across_seeds, task.n_train_max, len(task.x_test)):
                return _shared_seed_kernel(kernel_fn, task, ridge, kernel_key, stored, solving)
            x_max, _ = task.nested_subset(task.n_train_max)
            return seed_kernel(kernel_fn, x_max, task.x_test, ridge, kernel_key=kernel_key, stored=stored, solving=solving)

        kernel = task.cache.get_or_create("seed_kernel", create)
    else:
        kernel = seed_kernel(kernel_fn, task.x_train, task.x_test, ridge, kernel_key=kernel_key, stored=stored, solving=solving)
    n = task.n_train
    started = time.perf_counter()
    weights = kernel.factored.weights(one_hot(task.y_train, task.num_classes))
    predictions = np.asarray(kernel.test[:, :n], dtype=np.float64) @ weights
    return LearnerResult(
        predictions=predictions,
        info={
            "seed_kernel_seconds": round(kernel.kernel_seconds, 3),
            "factor_seconds": round(kernel.factor_seconds, 3),
            "solve_seconds": round(time.perf_counter() - started, 3),
            "kernel_samples": kernel.samples,
            "kernel_shared_by_seeds": kernel.seeds_sharing,
            "kernel_mean_diagonal": float(np.mean(kernel.diagonal[:n])),
            "effective_ridge": kernel.factored.effective_ridge,
            **solve_facts(kernel.factored),
        },
    )


def _regress_choosing_ridge(
    kernel_fn: Callable,
    task: LearnerTask,
    ridges: tuple[float, ...],
    per_seed: bool,
    kernel_key: Hashable | None,
    same_for_every_seed: bool,
    stored: StoredKernel | None,
    solving: Solving,
) -> LearnerResult:
    """`regress_with_kernel` with a ridge chosen per n on the seed's validation samples (each
    regularised kernel solved as `solving` says, by its number of rows)."""
    x_validation, y_validation = _validated_ridges(task, ridges)
    sizes = tuple(n for n in task.n_train_values if n <= task.n_train_max) if per_seed else ()
    if task.n_train not in sizes:
        sizes = (task.n_train,)

    def create() -> tuple[dict[int, RidgeChoice], dict[str, float | int], np.ndarray]:
        started = time.perf_counter()
        if per_seed and same_for_every_seed and task.across_seeds and union_pays(task.across_seeds, task.n_train_max, len(task.x_test)):
            train, test = _union_blocks(kernel_fn, task, kernel_key, stored)
            samples, sharing = task.across_seeds.union_size, len(task.across_seeds.seeds)
            x_train = task.nested_subset(task.n_train_max)[0]
        else:
            x_train = task.nested_subset(max(sizes))[0] if per_seed else task.x_train
            train, test = _train_and_test_kernels(kernel_fn, x_train, task.x_test, kernel_key, stored,
                                                  solving.iterative(len(x_train)))
            samples, sharing = len(x_train), 1
        edge = _kernel_edge(kernel_fn, x_train, len(x_validation), kernel_key, solving.iterative(len(x_train)))
        validation = evaluate_tiled(kernel_fn, x_validation, x_train, max_tile=edge, stored=stored)
        kernel_seconds = time.perf_counter() - started
        y_train = task.nested_subset(len(x_train))[1] if per_seed else task.y_train
        choices = choose_ridges(train, test, validation, y_train, y_validation, task.num_classes, sizes, ridges, solving.solve)
        facts = {
            "seed_kernel_seconds": round(kernel_seconds, 3),
            "choose_seconds": round(time.perf_counter() - started - kernel_seconds, 3),
            "kernel_samples": samples,
            "kernel_shared_by_seeds": sharing,
        }
        return choices, facts, np.array(np.diag(train), dtype=np.float64)

    choices, facts, diagonal = task.cache.get_or_create(("ridge_choice", ridges, sizes), create) if per_seed else create()
    return _chosen(choices[task.n_train], ridges, {**facts, "kernel_mean_diagonal": float(np.mean(diagonal[: task.n_train]))})


def _chosen(choice: RidgeChoice, ridges: tuple[float, ...], facts: dict[str, Any]) -> LearnerResult:
    """The result of a cell whose ridge was chosen on validation data, with the choice in its record."""
    return LearnerResult(
        predictions=choice.predictions,
        info={
            **facts,
            "ridge": choice.ridge,
            "effective_ridge": choice.effective_ridge,
            "validation_error": min(error for error in choice.validation_errors if error is not None),
            "validation_errors": list(choice.validation_errors),
            "ridges": list(ridges),
            **choice.solve_facts,
        },
    )


def _validated_ridges(task: LearnerTask, ridges: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The seed's validation samples, once `ridges` is known to be a grid one can choose from."""
    if not ridges:
        raise InputError("a ridge grid needs at least one ridge")
    if task.validation is None:
        raise InputError("choosing the ridge needs validation samples: set dataset.validation_n")
    return task.validation


def regress_with_features(
    features_fn: Callable[[np.ndarray], np.ndarray], task: LearnerTask, ridge: float | Sequence[float]
) -> LearnerResult:
    """Ridge regression of one-hot training labels on features: `features_fn(x)` maps a batch of
    inputs to a `(len(x), p)` array, the same function for every n of the seed.

    The features of the seed's largest training set, the test set and the validation samples are
    computed once per seed; the regression runs on their kernel `phi phi^T`, formed in float64 (in
    float32 a kernel of rank p < n has round-off eigenvalues below zero). One `ridge` is relative
    to the mean squared norm of the n training features; several are chosen from per n on the
    validation samples as in `regress_with_kernel` (relative to the seed's largest training set).
    """
    choosing = not isinstance(ridge, int | float)
    validation = _validated_ridges(task, tuple(ridge)) if choosing else None

    def create() -> dict[str, np.ndarray]:
        x_max, _ = task.nested_subset(task.n_train_max)
        blocks = {"train": x_max, "test": task.x_test, **({"validation": validation[0]} if choosing else {})}
        return {name: np.asarray(features_fn(x), dtype=np.float64) for name, x in blocks.items()}

    features = task.cache.get_or_create("features", create)
    train, test = features["train"], features["test"]
    facts = {"features": int(train.shape[1])}
    if not choosing:
        train = train[: task.n_train]
        fit = kernel_ridge_predict(train @ train.T, test @ train.T, one_hot(task.y_train, task.num_classes), ridge)
        return LearnerResult(fit.predictions, {**facts, "effective_ridge": fit.effective_ridge})
    ridges = tuple(ridge)
    sizes = tuple(n for n in task.n_train_values if n <= task.n_train_max)

    def choose() -> dict[int, RidgeChoice]:
        kernels = [block @ train.T for block in (train, test, features["validation"])]
        y_max = task.nested_subset(task.n_train_max)[1]
        return choose_ridges(*kernels, y_max, validation[1], task.num_classes, sizes, ridges)

    choices = task.cache.get_or_create(("ridge_choice", ridges, sizes), choose)
    return _chosen(choices[task.n_train], ridges, facts)


def empirical_ntk_kernel(
    model: Any, x_probe: np.ndarray, implementation: int | str = "auto", contraction: Contraction = "trace",
    architecture: Architecture | None = None,
) -> RegressionKernel:
    """The empirical NTK of `model` as a `RegressionKernel`, with `implementation` resolved as
    `regress_with_empirical_ntk` resolves it (`"auto"`: the fastest on `x_probe`); described by the
    hash of its parameters (and `architecture`, the network's, when given) for a kernel store."""
    chosen = resolve_implementation(model, x_probe, implementation, contraction=contraction)
    return _empirical_ntk_kernel(model, chosen, contraction, architecture, tuple(x_probe.shape[1:]))


def _empirical_ntk_kernel(
    model: Any, implementation: Implementation, contraction: Contraction, architecture: Architecture | None,
    input_shape: tuple[int, ...], examples: int | None = None,
) -> RegressionKernel:
    """For `native`, the layers' strategies suit a kernel on `examples` inputs (`native_strategies`),
    and they are part of its key and description (they change the kernel's round-off)."""
    strategies = native_strategies(model, input_shape, contraction, examples) if implementation == "native" else None
    return RegressionKernel(
        StructuredNTK(model, contraction, strategies) if strategies is not None else empirical_ntk_fn(model, implementation, contraction),
        key=empirical_ntk_key(model, implementation, contraction, strategies),
        description=empirical_kernel_description(model, architecture, implementation, contraction, strategies),
    )


def regress_with_empirical_ntk(
    model: Any,
    task: LearnerTask,
    ridge: float | Sequence[float],
    implementation: int | str = "auto",
    *,
    per_seed: bool = True,
    contraction: Contraction = "trace",
    solver: Solver = "auto",
    tolerance: float = TOLERANCE,
) -> LearnerResult:
    """`regress_with_kernel` with the empirical NTK of `model` (an `eqx.Module` or a `StatefulModel`).

    `implementation` is `"native"` (ntkbench's structured kernel of a network of `ntkbench.layers`),
    neural-tangents' 1, 2 or 3, or `"auto"` (`native` where it applies, else the fastest on this
    network: see `resolve_implementation`); the one used is recorded in `info["implementation"]`.
    `per_seed` as in `regress_with_kernel`: true when `model` is the same for every n of the seed.
    `contraction`: `trace` (the mean over logits) or `sum_logits` (see `Contraction`).
    """
    chosen = resolve_implementation(model, task.x_test, implementation, contraction=contraction)
    kernel = _empirical_ntk_kernel(model, chosen, contraction, task.architecture, task.input_shape,
                                   task.n_train_max if per_seed else task.n_train)
    result = regress_with_kernel(
        kernel.function, task, ridge, per_seed=per_seed, kernel_key=kernel.key, kernel_description=kernel.description,
        solver=solver, tolerance=tolerance,
    )
    result.info["implementation"] = chosen
    return result

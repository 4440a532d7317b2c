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
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from ..api import AcrossSeeds, LearnerResult, LearnerTask, memory_budget
from ._costs import union_kernel_pays
from ._kernel_ridge import FactoredKernel, factor_kernel, one_hot
from ._kernels import empirical_ntk, empirical_ntk_key, evaluate_tiled, resolve_implementation, tile_edge, tile_size


@dataclasses.dataclass(frozen=True)
class SeedKernel:
    factored: FactoredKernel
    """Cholesky factor of K(X_max, X_max) + lambda I for the seed's largest training set X_max."""
    test: np.ndarray
    """K(X_test, X_max), float32."""
    diagonal: np.ndarray
    kernel_seconds: float
    factor_seconds: float
    samples: int
    """How many training samples the kernel was computed on (X_max, or the union of the seeds' X_max)."""
    seeds_sharing: int = 1
    """How many seeds share that computation."""


def _train_and_test_kernels(
    kernel_fn: Callable, x_train: np.ndarray, x_test: np.ndarray, kernel_key: Hashable | None
) -> tuple[np.ndarray, np.ndarray]:
    """K(x_train, x_train) and K(x_test, x_train), float32, in tiles that fit the memory budget."""
    held = 4 * len(x_train) * (len(x_train) + len(x_test))  # the two float32 kernels, while tiles are computed
    longest = tile_size(max(len(x_train), len(x_test)))
    edge = tile_edge(kernel_fn, x_train.shape[1:], key=kernel_key, budget=max(memory_budget() - held, 0), at_most=longest)
    return evaluate_tiled(kernel_fn, x_train, max_tile=edge), evaluate_tiled(kernel_fn, x_test, x_train, max_tile=edge)


def _factored(train: np.ndarray, test: np.ndarray, ridge: float, kernel_seconds: float, **facts: int) -> SeedKernel:
    started = time.perf_counter()
    diagonal = np.array(np.diag(train), dtype=np.float64)
    factored = factor_kernel(train, ridge)
    return SeedKernel(factored, test, diagonal, kernel_seconds, time.perf_counter() - started, **facts)


def seed_kernel(
    kernel_fn: Callable, x_train: np.ndarray, x_test: np.ndarray, ridge: float, *, kernel_key: Hashable | None = None
) -> SeedKernel:
    """The kernel of `x_train` (factored) and of `x_test` against it, in tiles that fit the memory budget."""
    started = time.perf_counter()
    train, test = _train_and_test_kernels(kernel_fn, x_train, x_test, kernel_key)
    return _factored(train, test, ridge, time.perf_counter() - started, samples=len(x_train))


def union_pays(across: AcrossSeeds, n_train_max: int, n_test: int) -> bool:
    """Whether the seeds of `across` should share one kernel on the union of their largest
    training sets (see `union_kernel_pays`)."""
    return union_kernel_pays(across.union_size, len(across.seeds), n_train_max, n_test)


def _shared_seed_kernel(kernel_fn: Callable, task: LearnerTask, ridge: float, kernel_key: Hashable | None) -> SeedKernel:
    """The seed's kernel, taken from the kernel on the union of the seeds' largest training sets.

    The first seed that asks computes the union's kernel, and its `kernel_seconds` include that
    time; the other seeds' include only taking their block.
    """
    across = task.across_seeds
    started = time.perf_counter()
    union_train, union_test = across.cache.get_or_create(
        "union_kernel", lambda: _train_and_test_kernels(kernel_fn, across.union_inputs(), task.x_test, kernel_key)
    )
    positions = across.positions(task.seed)
    train, test = union_train[np.ix_(positions, positions)], union_test[:, positions]
    return _factored(
        train, test, ridge, time.perf_counter() - started, samples=across.union_size, seeds_sharing=len(across.seeds)
    )


def regress_with_kernel(
    kernel_fn: Callable,
    task: LearnerTask,
    ridge: float,
    *,
    per_seed: bool = True,
    kernel_key: Hashable | None = None,
    same_for_every_seed: bool = False,
) -> LearnerResult:
    """Kernel ridge regression of one-hot training labels with `kernel_fn(x1, x2)`, predicting the test inputs.

    With `per_seed` (the default) `kernel_fn` must be the same for every n of the seed: it is
    evaluated and factored once per seed and sliced. Otherwise it is evaluated on this cell's
    training set only. With `same_for_every_seed` too (the kernel depends only on the inputs, as
    an infinite-width kernel does), seeds computed by this process share one kernel on the union
    of their largest training sets when `union_pays`. The tile size follows the memory budget
    (see `tile_edge`); `kernel_key` names the kernel's computation (the same for every seed) so
    that it is measured only once.
    """
    if per_seed:

        def create() -> SeedKernel:
            if same_for_every_seed and task.across_seeds and union_pays(task.across_seeds, task.n_train_max, len(task.x_test)):
                return _shared_seed_kernel(kernel_fn, task, ridge, kernel_key)
            x_max, _ = task.nested_subset(task.n_train_max)
            return seed_kernel(kernel_fn, x_max, task.x_test, ridge, kernel_key=kernel_key)

        kernel = task.cache.get_or_create("seed_kernel", create)
    else:
        kernel = seed_kernel(kernel_fn, task.x_train, task.x_test, ridge, kernel_key=kernel_key)
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
        },
    )


def regress_with_empirical_ntk(
    model: Any, task: LearnerTask, ridge: float, implementation: int | str = "auto", *, per_seed: bool = True
) -> LearnerResult:
    """`regress_with_kernel` with the empirical NTK of `model` (an `eqx.Module` or a `StatefulModel`).

    `implementation` is neural-tangents' (1, 2, 3), or `"auto"` for the fastest on this network
    (see `resolve_implementation`); the one used is recorded in `info["implementation"]`.
    `per_seed` as in `regress_with_kernel`: true when `model` is the same for every n of the seed.
    """
    chosen = resolve_implementation(model, task.x_test, implementation)
    result = regress_with_kernel(
        lambda x1, x2: empirical_ntk(model, x1, x2, chosen), task, ridge, per_seed=per_seed,
        kernel_key=empirical_ntk_key(model, chosen),
    )
    result.info["implementation"] = chosen
    return result

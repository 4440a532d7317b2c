"""The part every kernel learner shares: the kernel of one seed, computed and factored once, then
regression for every n.

Training sets are nested, so the kernel on the largest training set of the seed (and between the
test set and it) holds every smaller training set's kernel as a leading block, and the Cholesky
factor of the largest regularised block holds every smaller one's. Both are computed at the
seed's first cell. The ridge is therefore relative to the mean diagonal of the seed's largest
training kernel (the same lambda for every n of the seed).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable

import numpy as np

from .._plugins import LearnerResult, LearnerTask
from .._resources import memory_budget
from ..numerics._kernel_ridge import FactoredKernel, factor_kernel, one_hot
from ..numerics._kernels import evaluate_tiled, tile_edge, tile_size


@dataclasses.dataclass(frozen=True)
class SeedKernel:
    factored: FactoredKernel
    """Cholesky factor of K(X_max, X_max) + lambda I for the seed's largest training set X_max."""
    test: np.ndarray
    """K(X_test, X_max), float32."""
    diagonal: np.ndarray
    kernel_seconds: float
    factor_seconds: float


def seed_kernel(
    kernel_fn: Callable, x_train: np.ndarray, x_test: np.ndarray, ridge: float, *, kernel_key: Hashable | None = None
) -> SeedKernel:
    """The kernel of `x_train` (factored) and of `x_test` against it, in tiles that fit the memory budget."""
    started = time.perf_counter()
    held = 4 * len(x_train) * (len(x_train) + len(x_test))  # the two float32 kernels, while tiles are computed
    longest = tile_size(max(len(x_train), len(x_test)))
    edge = tile_edge(kernel_fn, x_train.shape[1:], key=kernel_key, budget=max(memory_budget() - held, 0), at_most=longest)
    train = evaluate_tiled(kernel_fn, x_train, max_tile=edge)
    test = evaluate_tiled(kernel_fn, x_test, x_train, max_tile=edge)
    computed = time.perf_counter()
    diagonal = np.array(np.diag(train), dtype=np.float64)
    factored = factor_kernel(train, ridge)
    del train
    return SeedKernel(factored, test, diagonal, computed - started, time.perf_counter() - computed)


def regress_with_kernel(
    kernel_fn: Callable, task: LearnerTask, ridge: float, *, per_seed: bool = True, kernel_key: Hashable | None = None
) -> LearnerResult:
    """Kernel ridge regression of one-hot training labels with `kernel_fn(x1, x2)`, predicting the test inputs.

    With `per_seed` (the default) `kernel_fn` must be the same for every n of the seed: it is
    evaluated and factored once per seed and sliced. Otherwise it is evaluated on this cell's
    training set only. The tile size follows the memory budget (see `tile_edge`); `kernel_key`
    names the kernel's computation (the same for every seed) so that it is measured only once.
    """
    if per_seed:
        x_max, _ = task.nested_subset(task.n_train_max)
        kernel = task.cache.get_or_create(
            "seed_kernel", lambda: seed_kernel(kernel_fn, x_max, task.x_test, ridge, kernel_key=kernel_key)
        )
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
            "kernel_mean_diagonal": float(np.mean(kernel.diagonal[:n])),
            "effective_ridge": kernel.factored.effective_ridge,
        },
    )

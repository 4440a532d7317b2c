"""The part every kernel learner shares: the kernel of one seed, computed once, then regression.

Training sets are nested, so the kernel on the largest training set of the seed (and between
the test set and it) holds every smaller training set's kernel as a leading block. It is
computed at the seed's first cell and sliced for every n.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from .._plugins import LearnerResult, LearnerTask
from ..numerics._kernel_ridge import kernel_ridge_predict, one_hot
from ..numerics._kernels import evaluate_tiled


@dataclasses.dataclass(frozen=True)
class SeedKernel:
    train: np.ndarray
    """K(X_max, X_max) for the seed's largest training set X_max."""
    test: np.ndarray
    """K(X_test, X_max)."""
    seconds: float


def seed_kernel(kernel_fn: Callable, task: LearnerTask) -> SeedKernel:
    x_max, _ = task.nested_subset(task.n_train_max)
    started = time.perf_counter()
    train = evaluate_tiled(kernel_fn, x_max)
    test = evaluate_tiled(kernel_fn, task.x_test, x_max)
    return SeedKernel(train, test, time.perf_counter() - started)


def regress_with_kernel(kernel_fn: Callable, task: LearnerTask, ridge: float, *, per_seed: bool = True) -> LearnerResult:
    """Kernel ridge regression of one-hot training labels with `kernel_fn(x1, x2)`, predicting the test inputs.

    With `per_seed` (the default) `kernel_fn` must be the same for every n of the seed: it is
    evaluated once per seed and sliced. Otherwise it is evaluated on this cell's training set only.
    """
    if per_seed:
        kernel = task.cache.get_or_create("seed_kernel", lambda: seed_kernel(kernel_fn, task))
    else:
        started = time.perf_counter()
        kernel = SeedKernel(
            evaluate_tiled(kernel_fn, task.x_train),
            evaluate_tiled(kernel_fn, task.x_test, task.x_train),
            time.perf_counter() - started,
        )
    n = task.n_train
    started = time.perf_counter()
    k_train = kernel.train[:n, :n]
    fit = kernel_ridge_predict(k_train, kernel.test[:, :n], one_hot(task.y_train, task.num_classes), ridge)
    return LearnerResult(
        predictions=fit.predictions,
        info={
            "seed_kernel_seconds": round(kernel.seconds, 3),
            "solve_seconds": round(time.perf_counter() - started, 3),
            "kernel_mean_diagonal": float(np.mean(np.diag(k_train))),
            "effective_ridge": fit.effective_ridge,
        },
    )

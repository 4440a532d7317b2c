"""The part every kernel learner shares: build the two kernel blocks a cell needs, then regress."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .._plugins import LearnerResult, LearnerTask
from ..numerics._kernel_ridge import kernel_ridge_predict, one_hot
from ..numerics._kernels import evaluate_tiled


def regress_with_kernel(kernel_fn: Callable, task: LearnerTask, ridge: float) -> LearnerResult:
    """Kernel ridge regression of one-hot training labels with `kernel_fn(x1, x2)`, predicting the test inputs."""
    started = time.perf_counter()
    k_train = evaluate_tiled(kernel_fn, task.x_train)
    k_test_train = evaluate_tiled(kernel_fn, task.x_test, task.x_train)
    kernel_seconds = time.perf_counter() - started
    fit = kernel_ridge_predict(k_train, k_test_train, one_hot(task.y_train, task.num_classes), ridge)
    return LearnerResult(
        predictions=fit.predictions,
        info={
            "kernel_seconds": round(kernel_seconds, 3),
            "solve_seconds": round(time.perf_counter() - started - kernel_seconds, 3),
            "kernel_mean_diagonal": float(np.mean(np.diag(k_train))),
            "effective_ridge": fit.effective_ridge,
        },
    )

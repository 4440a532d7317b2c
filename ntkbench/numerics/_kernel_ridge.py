"""Kernel ridge regression on one-hot targets, solved in float64.

This is the t -> infinity limit of gradient flow on the squared loss for a model
linear in its features (the NTK regime), with a small ridge for numerical safety.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg

from .._errors import CellFailure


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Float64 one-hot encoding of integer labels."""
    return np.eye(num_classes, dtype=np.float64)[np.asarray(labels)]


JITTERS = (0.0, 1e-10, 1e-8, 1e-6)
"""Added to the ridge (relative to the mean diagonal) in turn when the Cholesky factorisation fails:
float64 round-off can make a numerically singular kernel slightly indefinite."""


@dataclasses.dataclass(frozen=True)
class KernelRidgeFit:
    predictions: np.ndarray
    effective_ridge: float
    """The ridge added to the diagonal: `ridge * mean(diag(K_train))`, plus any jitter that was needed."""


def kernel_ridge_predict(
    k_train: np.ndarray, k_test_train: np.ndarray, targets: np.ndarray, ridge: float
) -> KernelRidgeFit:
    """Predict `K(test, train) (K(train, train) + lambda I)^-1 targets` by a Cholesky solve.

    `ridge` is relative to the mean diagonal of `k_train`, so one value means the same
    regularisation for kernels of any scale (an empirical NTK after training can be orders
    of magnitude larger than at initialisation).

    **Raises:** `CellFailure` when the regularised kernel is not positive definite.
    """
    k_train = np.asarray(k_train, dtype=np.float64)
    scale = float(np.mean(np.diag(k_train)))
    if not np.isfinite(scale) or scale <= 0:
        raise CellFailure(f"training kernel has mean diagonal {scale}; the kernel is degenerate")
    if not np.all(np.isfinite(k_train)):
        raise CellFailure("training kernel has non-finite entries")
    for jitter in JITTERS:
        effective_ridge = ridge * scale + jitter * scale
        try:
            factor = scipy.linalg.cho_factor(k_train + effective_ridge * np.eye(len(k_train)), lower=True)
        except np.linalg.LinAlgError:
            continue
        weights = scipy.linalg.cho_solve(factor, np.asarray(targets, dtype=np.float64), check_finite=False)
        return KernelRidgeFit(np.asarray(k_test_train, dtype=np.float64) @ weights, effective_ridge)
    raise CellFailure(
        f"kernel solve failed: K + {effective_ridge:.3g} I is not positive definite even with jitter "
        f"up to {JITTERS[-1]:g} x the mean diagonal; raise 'ridge'"
    )

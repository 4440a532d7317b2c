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


@dataclasses.dataclass(frozen=True)
class KernelRidgeFit:
    predictions: np.ndarray
    effective_ridge: float
    """The ridge added to the diagonal: `ridge * mean(diag(K_train))`."""


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
    effective_ridge = ridge * scale
    regularised = k_train + effective_ridge * np.eye(len(k_train))
    try:
        factor = scipy.linalg.cho_factor(regularised, lower=True, check_finite=True)
    except (np.linalg.LinAlgError, ValueError) as error:
        raise CellFailure(
            f"kernel solve failed: K + {effective_ridge:.3g} I is not positive definite ({error}); raise 'ridge'"
        ) from None
    weights = scipy.linalg.cho_solve(factor, np.asarray(targets, dtype=np.float64), check_finite=False)
    return KernelRidgeFit(np.asarray(k_test_train, dtype=np.float64) @ weights, effective_ridge)

"""Kernel ridge regression on one-hot targets, solved in float64.

This is the t -> infinity limit of gradient flow on the squared loss for a model
linear in its features (the NTK regime), with a small ridge for numerical safety.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.linalg

from ..api import CellFailure


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Float64 one-hot encoding of integer labels."""
    return np.eye(num_classes, dtype=np.float64)[np.asarray(labels)]


THREADED_FACTOR_LIMIT = 8192
"""A kernel with more rows than this is not factored by LAPACK's `dpotrf` at once: the threaded
Cholesky of the OpenBLAS that scipy's and numpy's wheels ship crashes the process (SIGSEGV, with its
SkylakeX kernels) on large kernels (benchmarks/README.md has the sizes). `blocked_cholesky` factors
those, on every core, with `dpotrf` on blocks of `FACTOR_BLOCK` rows only."""
FACTOR_BLOCK = 1024
UPDATE_COLUMNS = 2048
"""`blocked_cholesky` updates the trailing matrix this many columns at a time (a float64 temporary of
at most n x UPDATE_COLUMNS)."""


def _cholesky(regularised: np.ndarray) -> np.ndarray:
    """The upper Cholesky factor of a float64 Fortran-order matrix, computed in place."""
    if len(regularised) <= THREADED_FACTOR_LIMIT:
        return scipy.linalg.cho_factor(regularised, lower=False, overwrite_a=True, check_finite=False)[0]
    return blocked_cholesky(regularised, FACTOR_BLOCK)


def blocked_cholesky(a: np.ndarray, block: int) -> np.ndarray:
    """The upper Cholesky factor U (UᵀU = a) of a symmetric positive definite float64 Fortran-order
    array, in place (its upper triangle read and written, the lower left as it was), right-looking
    by blocks of `block` rows: each diagonal block by LAPACK's `dpotrf`, the block row right of it
    by a triangular solve (`dtrsm`), and the trailing matrix by matrix products (`dgemm`), all
    threaded BLAS.

    **Raises:** `np.linalg.LinAlgError` when `a` is not positive definite."""
    from scipy.linalg import blas, lapack

    n = len(a)
    for start in range(0, n, block):
        end = min(start + block, n)
        factor, info = lapack.dpotrf(a[start:end, start:end], lower=0, clean=0)
        if info != 0:
            raise np.linalg.LinAlgError(f"the matrix is not positive definite (leading minor {start + info})")
        a[start:end, start:end] = factor
        if end == n:
            break
        row = blas.dtrsm(1.0, factor, a[start:end, end:], side=0, lower=0, trans_a=1)
        a[start:end, end:] = row
        for column in range(end, n, UPDATE_COLUMNS):
            last = min(column + UPDATE_COLUMNS, n)
            a[end:last, column:last] -= blas.dgemm(1.0, row[:, : last - end], row[:, column - end : last - end], trans_a=1)
    return a


PREFIX_COPY_LIMIT = 8192
"""`FactoredKernel.weights` copies a leading block of at most this many rows out of the factor (the
solve of a copied block and of the whole factor may differ in the last bits, and published records
were computed with copies); a larger block, gigabytes, is solved in place instead."""

JITTERS = (0.0, 1e-10, 1e-8, 1e-6)
"""Added to the ridge (relative to the mean diagonal) in turn when the Cholesky factorisation fails:
float64 round-off can make a numerically singular kernel slightly indefinite."""


@dataclasses.dataclass(frozen=True)
class KernelRidgeFit:
    predictions: np.ndarray
    effective_ridge: float
    """The ridge added to the diagonal: `ridge * mean(diag(K_train))`, plus any jitter that was needed."""


@dataclasses.dataclass(frozen=True)
class FactoredKernel:
    """The Cholesky factor U of `K + lambda I = U^T U` (float64, upper triangular, Fortran order;
    only its upper triangle is meaningful).

    For nested training sets its leading n x n block is the factor of the first n samples'
    regularised kernel (with the same lambda), so one factorisation serves every n of a seed.
    """

    upper: np.ndarray
    effective_ridge: float

    def weights(self, targets: np.ndarray) -> np.ndarray:
        """`(K_n + lambda I)^-1 targets` for the first n = len(targets) samples, by two triangular solves.

        A leading block of more than `PREFIX_COPY_LIMIT` rows is not copied out of the factor (LAPACK
        wants it contiguous): the whole factor solves for the targets padded with zero rows, whose
        first n rows of the solution are the block's (as `prefix_weights` argues)."""
        n = len(targets)
        if n <= PREFIX_COPY_LIMIT or n == len(self.upper):
            upper = self.upper[:n, :n]
            half = scipy.linalg.solve_triangular(
                upper, np.asarray(targets, dtype=np.float64), trans="T", lower=False, check_finite=False
            )
            return scipy.linalg.solve_triangular(upper, half, lower=False, check_finite=False)
        padded = np.zeros((len(self.upper), targets.shape[1]))
        padded[:n] = targets
        half = scipy.linalg.solve_triangular(self.upper, padded, trans="T", lower=False, check_finite=False)
        half[n:] = 0.0
        return scipy.linalg.solve_triangular(self.upper, half, lower=False, check_finite=False)[:n]

    def prefix_weights(self, targets: np.ndarray, sizes: list[int]) -> np.ndarray:
        """`weights(targets[:n])` for every n of `sizes` at once, as the column blocks of one
        `(len(targets), len(sizes) * classes)` array (zero below row n in block n).

        The forward solve with the lower factor gives every prefix's intermediate at once (row i
        depends only on rows before it); the backward solve of the whole factor, with each block's
        right-hand side zero below its n, has zero rows there and so solves the n-sample system.
        """
        rows, classes = len(targets), targets.shape[1]
        upper = self.upper[:rows, :rows]
        half = scipy.linalg.solve_triangular(
            upper, np.asarray(targets, dtype=np.float64), trans="T", lower=False, check_finite=False
        )
        stacked = np.zeros((rows, len(sizes) * classes))
        for k, n in enumerate(sizes):
            stacked[:n, k * classes : (k + 1) * classes] = half[:n]
        return scipy.linalg.solve_triangular(upper, stacked, lower=False, check_finite=False)


def factor_kernel(k_train: np.ndarray, ridge: float) -> FactoredKernel:
    """Factor `k_train + ridge * mean(diag(k_train)) * I` in float64, adding jitter if round-off needs it.

    `ridge` is relative to the mean diagonal, so one value means the same regularisation for
    kernels of any scale (an empirical NTK after training can be orders of magnitude larger than
    at initialisation). `k_train` must be symmetric; its lower triangle is what is factored.

    **Raises:** `CellFailure` when the kernel is degenerate or not positive definite even with jitter.
    """

    def copy() -> np.ndarray:
        # A float64 copy (C order): `factor_assembled` factors its transpose, in Fortran order, in
        # place; converting straight into Fortran order would be a strided, ten times slower copy.
        regularised = np.empty(k_train.shape, dtype=np.float64)
        np.copyto(regularised, k_train)
        return regularised

    return factor_assembled(copy, ridge)


def factor_assembled(assemble: Callable[[], np.ndarray], ridge: float) -> FactoredKernel:
    """`factor_kernel` of the symmetric float64 kernel (C order) that `assemble()` returns, factored in
    place: no other n x n array is held. `assemble` is called again for each jitter tried (it must
    return a fresh copy: the last one was overwritten by its factor).

    **Raises:** `CellFailure` as `factor_kernel`.
    """
    for jitter in JITTERS:
        regularised = assemble()
        if jitter == JITTERS[0]:
            scale = float(np.mean(np.diag(regularised)))
            if not np.isfinite(scale) or scale <= 0:
                raise CellFailure(f"training kernel has mean diagonal {scale}; the kernel is degenerate")
            if not np.isfinite(regularised.sum()):  # any inf or nan makes the sum non-finite
                raise CellFailure("training kernel has non-finite entries")
        effective_ridge = ridge * scale + jitter * scale
        # Its transpose is the kernel, in Fortran order, which LAPACK factors in place; the upper
        # factor is LAPACK's faster one here.
        regularised = regularised.T
        regularised[np.diag_indices_from(regularised)] += effective_ridge
        try:
            upper = _cholesky(regularised)
        except np.linalg.LinAlgError:
            continue
        return FactoredKernel(upper, effective_ridge)
    raise CellFailure(
        f"kernel solve failed: K + {effective_ridge:.3g} I is not positive definite even with jitter "
        f"up to {JITTERS[-1]:g} x the mean diagonal; raise 'ridge'"
    )


def kernel_ridge_predict(
    k_train: np.ndarray, k_test_train: np.ndarray, targets: np.ndarray, ridge: float
) -> KernelRidgeFit:
    """Predict `K(test, train) (K(train, train) + lambda I)^-1 targets` by a Cholesky solve (float64).

    `ridge` is relative to the mean diagonal of `k_train` (see `factor_kernel`).
    """
    factored = factor_kernel(k_train, ridge)
    weights = factored.weights(targets)
    return KernelRidgeFit(np.asarray(k_test_train, dtype=np.float64) @ weights, factored.effective_ridge)

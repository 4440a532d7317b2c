"""Kernel ridge regression without factoring the kernel: preconditioned conjugate gradients on
`(K_n + λ I) W = Y` for every class at once, for a kernel too large to factor in the memory budget
(or when a spec asks, `solver: cg`).

The kernel is read as the float32 matrix the tiles were assembled into (in memory, or memory-mapped
from disk above `MEMMAP_BYTES`), a block of rows at a time, in float64. The preconditioner is a
Nyström approximation from `landmarks` columns (Falkon, Meanti et al. 2020): with the first m
samples (a random subset: a seed's order is a permutation of the pool), `B = K_nm U Λ^-1/2` for the
eigenvectors U and eigenvalues Λ of `K_mm` above its float32 precision, so that `K ≈ B Bᵀ`, and `(B Bᵀ + λ I)⁻¹ v = (v − B (λ I + BᵀB)⁻¹ Bᵀ v)
/ λ` by the Woodbury identity. It takes `2 n m²` (and an eigendecomposition of `K_mm`) to build and `2 n m` per column and iteration to
apply, against `2 n²` for a product with the kernel. The first n rows of B are the n-sample
problem's B, so one build serves every nested size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.linalg

from ..api import CellFailure, memory_budget

LANDMARKS = 2048
"""Columns of the Nyström preconditioner (at most half the samples)."""
ROW_BLOCK = 128
"""Rows of the kernel read (and converted to float64) at a time for a product: few enough that the
converted block stays in cache (see benchmarks/README.md)."""
BASIS_ROWS = 2048
"""Rows of the preconditioner's basis built at a time."""
MAX_ITERATIONS = 2000
TOLERANCE = 1e-8
"""The default relative residual `‖(K + λI) W − Y‖ / ‖Y‖` (every class) at which the solve stops."""


def solves_iteratively(rows: int, solver: str) -> bool:
    """Whether a kernel of `rows` rows is solved by conjugate gradients under `solver` (`cg`; or
    `auto`, where its float64 factor would not fit the memory budget)."""
    return solver == "cg" or (solver == "auto" and 8 * rows * rows > memory_budget())


def solve_facts(solved: object) -> dict:
    """What a record says of how a regularised kernel was solved: `solver`, and for conjugate
    gradients its iterations and final relative residual."""
    if isinstance(solved, NystromPreconditioned):
        return {"solver": "cg", "cg_iterations": solved.facts.iterations, "cg_relative_residual": solved.facts.relative_residual}
    return {"solver": "cholesky"}


@dataclasses.dataclass(frozen=True)
class SolveFacts:
    """How an iterative solve went, for the record."""

    iterations: int
    relative_residual: float


class NystromPreconditioned:
    """`(K_n + λ I)⁻¹ Y` for the leading n samples of the float32 kernel `kernel` (n_max x n_max,
    symmetric) by preconditioned conjugate gradients; the same interface as `FactoredKernel`
    (`weights`, `prefix_weights`, `effective_ridge`), with `facts` of the last solve.
    `on_iteration(iteration, relative residual, tolerance)` hears every iteration (a progress display)."""

    def __init__(self, kernel: np.ndarray, ridge: float, *, landmarks: int = LANDMARKS, tolerance: float = TOLERANCE,
                 on_iteration: Callable[[int, float, float], None] | None = None):
        self.kernel = kernel
        self.on_iteration = on_iteration
        n = len(kernel)
        diagonal = np.asarray(np.diagonal(kernel), dtype=np.float64)
        scale = float(np.mean(diagonal))
        if not np.isfinite(scale) or scale <= 0:
            raise CellFailure(f"training kernel has mean diagonal {scale}; the kernel is degenerate")
        self.effective_ridge = ridge * scale
        self.tolerance = tolerance
        m = max(1, min(landmarks, n // 2))
        # The landmarks' kernel is singular to float32's precision (smooth kernels, duplicate
        # samples): its modes below that are left out, B = K_nm U Λ^-1/2 over the rest.
        values, vectors = scipy.linalg.eigh(np.asarray(kernel[:m, :m], dtype=np.float64), check_finite=False)
        kept = values > np.sqrt(m) * np.finfo(np.float32).eps * values[-1]
        projection = vectors[:, kept] / np.sqrt(values[kept])
        self.basis = np.empty((n, int(kept.sum())))
        for start in range(0, n, BASIS_ROWS):
            rows = np.asarray(kernel[start : start + BASIS_ROWS, :m], dtype=np.float64)
            self.basis[start : start + BASIS_ROWS] = rows @ projection
        self.facts = SolveFacts(0, 0.0)

    def _product(self, vectors: np.ndarray) -> np.ndarray:
        """`(K_n + λ I) vectors` for n = len(vectors), a block of rows at a time."""
        n = len(vectors)
        out = np.empty_like(vectors)
        for start in range(0, n, ROW_BLOCK):
            rows = np.asarray(self.kernel[start : min(start + ROW_BLOCK, n), :n], dtype=np.float64)
            out[start : start + len(rows)] = rows @ vectors
        return out + self.effective_ridge * vectors

    def _preconditioner(self, n: int):
        basis = self.basis[:n]
        inner = self.effective_ridge * np.eye(basis.shape[1]) + basis.T @ basis
        factor = scipy.linalg.cho_factor(inner, lower=False, check_finite=False)

        def apply(residuals: np.ndarray) -> np.ndarray:
            return (residuals - basis @ scipy.linalg.cho_solve(factor, basis.T @ residuals, check_finite=False)) / self.effective_ridge

        return apply

    def weights(self, targets: np.ndarray) -> np.ndarray:
        """`(K_n + λ I)⁻¹ targets` for the first n = len(targets) samples; `facts` says how it went.

        **Raises:** `CellFailure` when the solve has not reached its tolerance in `MAX_ITERATIONS`."""
        targets = np.asarray(targets, dtype=np.float64)
        precondition = self._preconditioner(len(targets))
        solution = np.zeros_like(targets)
        residual = targets.copy()
        norms = np.linalg.norm(targets, axis=0)
        norms[norms == 0] = 1.0
        direction = precondition(residual)
        rho = np.sum(residual * direction, axis=0)
        for iteration in range(1, MAX_ITERATIONS + 1):
            product = self._product(direction)
            step = rho / np.maximum(np.sum(direction * product, axis=0), np.finfo(float).tiny)
            solution += direction * step
            residual -= product * step
            relative = float(np.max(np.linalg.norm(residual, axis=0) / norms))
            if self.on_iteration is not None:
                self.on_iteration(iteration, relative, self.tolerance)
            if relative <= self.tolerance:
                self.facts = SolveFacts(iteration, relative)
                return solution
            preconditioned = precondition(residual)
            rho, previous = np.sum(residual * preconditioned, axis=0), rho
            direction = preconditioned + direction * (rho / np.maximum(previous, np.finfo(float).tiny))
        self.facts = SolveFacts(MAX_ITERATIONS, relative)
        raise CellFailure(f"conjugate gradients reached a relative residual of {relative:.2e}, not {self.tolerance:g}, "
                          f"in {MAX_ITERATIONS} iterations; raise 'ridge' or the solver's tolerance")

    def prefix_weights(self, targets: np.ndarray, sizes: list[int]) -> np.ndarray:
        """`weights(targets[:n])` for every n of `sizes`, as `FactoredKernel.prefix_weights` lays them out."""
        classes = targets.shape[1]
        stacked = np.zeros((len(targets), len(sizes) * classes))
        for k, n in enumerate(sizes):
            stacked[:n, k * classes : (k + 1) * classes] = self.weights(targets[:n])
        return stacked

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
from ._kernel_ridge import FactoredKernel

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
    """What a record says of how a regularised kernel was solved: `solver` (`cholesky`, `cg`, or
    `shifted_cholesky`: from a neighbouring ridge's factor, `ShiftedFactor`), and for conjugate
    gradients its iterations and final relative residual."""
    if isinstance(solved, NystromPreconditioned):
        return {"solver": "cg", "cg_iterations": solved.facts.iterations, "cg_relative_residual": solved.facts.relative_residual}
    if isinstance(solved, ShiftedFactor):
        return {"solver": "shifted_cholesky", "cg_iterations": solved.facts.iterations,
                "cg_relative_residual": solved.facts.relative_residual, "shifted_from_ridge": solved.shifted_from}
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
        solution, self.facts = conjugate_gradients(self._product, self._preconditioner(len(targets)), targets, self.tolerance,
                                                   MAX_ITERATIONS, self.on_iteration)
        if solution is None:
            raise CellFailure(f"conjugate gradients reached a relative residual of {self.facts.relative_residual:.2e}, not "
                              f"{self.tolerance:g}, in {self.facts.iterations} iterations; raise 'ridge' or the solver's tolerance")
        return solution

    def prefix_weights(self, targets: np.ndarray, sizes: list[int]) -> np.ndarray:
        """`weights(targets[:n])` for every n of `sizes`, as `FactoredKernel.prefix_weights` lays them out."""
        classes = targets.shape[1]
        stacked = np.zeros((len(targets), len(sizes) * classes))
        for k, n in enumerate(sizes):
            stacked[:n, k * classes : (k + 1) * classes] = self.weights(targets[:n])
        return stacked


def conjugate_gradients(product: Callable[[np.ndarray], np.ndarray], precondition: Callable[[np.ndarray], np.ndarray],
                        targets: np.ndarray, tolerance: float, max_iterations: int,
                        on_iteration: Callable[[int, float, float], None] | None = None) -> tuple[np.ndarray | None, SolveFacts]:
    """Preconditioned conjugate gradients on `A W = targets` for every column at once (`product(V)` is
    `A V`, `precondition(R)` the preconditioner's inverse applied to R), from W = 0 until the largest
    relative residual of a column is at most `tolerance`.

    Returns the solution (None when `max_iterations` did not reach the tolerance, or a direction of
    non-positive curvature showed that A is not positive definite) and how the solve went."""
    targets = np.asarray(targets, dtype=np.float64)
    solution = np.zeros_like(targets)
    residual = targets.copy()
    norms = np.linalg.norm(targets, axis=0)
    norms[norms == 0] = 1.0
    direction = precondition(residual)
    rho = np.sum(residual * direction, axis=0)
    relative = 1.0
    for iteration in range(1, max_iterations + 1):
        image = product(direction)
        curvature = np.sum(direction * image, axis=0)
        if np.any(curvature[rho != 0] <= 0):
            return None, SolveFacts(iteration, relative)
        step = rho / np.where(rho != 0, curvature, 1.0)
        solution += direction * step
        residual -= image * step
        relative = float(np.max(np.linalg.norm(residual, axis=0) / norms))
        if on_iteration is not None:
            on_iteration(iteration, relative, tolerance)
        if relative <= tolerance:
            return solution, SolveFacts(iteration, relative)
        preconditioned = precondition(residual)
        rho, previous = np.sum(residual * preconditioned, axis=0), rho
        direction = preconditioned + direction * (rho / np.maximum(previous, np.finfo(float).tiny))
    return None, SolveFacts(max_iterations, relative)


SHIFT_TOLERANCE = 1e-10
"""The relative residual (of the transformed system) at which a `ShiftedFactor` solve stops: it
stands in for a factorisation, so well below what the predictions' argmax can notice."""


@dataclasses.dataclass(frozen=True)
class ShiftedFactor:
    """`(K_n + λ₁ I)⁻¹ Y` from the Cholesky factor U of `K_n + λ₀ I = UᵀU`, without factoring again: a
    ridge search's neighbouring ridge. Conjugate gradients solve `(I + (λ₁ − λ₀) U⁻ᵀU⁻¹) Z = U⁻ᵀ Y`,
    then `W = U⁻¹ Z`; each iteration is two triangular solves, `2 n²` per column, against `n³/3`
    for a factorisation. Over the eigenvalues μ of K the system's are `(μ + λ₁)/(μ + λ₀)`: near 1
    for every μ well above both ridges, and within `[λ₀/λ₁, λ₁/λ₀]` at worst, so a step of the ridge
    grid takes a few iterations where the kernel's spectrum lies above the ridges, more where it lies
    between them. The same interface as `FactoredKernel` for one size (`weights`,
    `prefix_weights`, `effective_ridge`), with `facts` and the factored ridge `shifted_from`."""

    effective_ridge: float
    solution: np.ndarray
    facts: SolveFacts
    shifted_from: float
    """The ridge (relative to the mean diagonal, as a spec gives it) whose factor was used."""

    @classmethod
    def solve(cls, factored: FactoredKernel, from_ridge: float, effective_ridge: float, targets: np.ndarray,
              max_iterations: int) -> ShiftedFactor | None:
        """The solve for `targets` (all n = len(factored.upper) rows) at `effective_ridge` (absolute)
        from `factored`, the factorisation at ridge `from_ridge`; None when `max_iterations` do not
        reach `SHIFT_TOLERANCE` (or the shifted kernel is not positive definite): factor it instead."""
        upper, shift = factored.upper, effective_ridge - factored.effective_ridge

        def inverse(vectors: np.ndarray) -> np.ndarray:  # (UᵀU)⁻¹ in the transformed variable: U⁻ᵀ U⁻¹
            inner = scipy.linalg.solve_triangular(upper, vectors, lower=False, check_finite=False)
            return scipy.linalg.solve_triangular(upper, inner, trans="T", lower=False, check_finite=False)

        right = scipy.linalg.solve_triangular(upper, np.asarray(targets, dtype=np.float64), trans="T", lower=False,
                                              check_finite=False)
        solution, facts = conjugate_gradients(lambda vectors: vectors + shift * inverse(vectors), lambda vectors: vectors,
                                              right, SHIFT_TOLERANCE, max_iterations)
        if solution is None:
            return None
        weights = scipy.linalg.solve_triangular(upper, solution, lower=False, check_finite=False)
        return cls(effective_ridge, weights, facts, from_ridge)

    def weights(self, targets: np.ndarray) -> np.ndarray:
        """The weights solved for (`targets` must be the ones given to `solve`)."""
        assert len(targets) == len(self.solution)
        return self.solution

    def prefix_weights(self, targets: np.ndarray, sizes: list[int]) -> np.ndarray:
        """The weights solved for, for the one size `sizes == [len(targets)]`."""
        assert list(sizes) == [len(targets)]
        return self.weights(targets)

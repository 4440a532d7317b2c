"""A kernel's spectrum on a pool of samples, and the test error kernel regression theory predicts
from it.

Kernel ridge regression with `n` samples, a ridge `delta` added to the diagonal of the n x n kernel
and a target whose power on the kernel's eigenfunction `i` is `p_i` (eigenvalue `lambda_i` of the
kernel's integral operator on the data distribution) has, to leading order in the number of
modes (Bordelon, Canatar and Pehlevan 2020; Simon et al. 2021, "eigenlearning"), the test error

    E(n) = n / (n - sum_i L_i^2) * (sum_i (1 - L_i)^2 p_i + noise),   L_i = lambda_i / (lambda_i + kappa),

where the effective regularisation `kappa > 0` solves `sum_i L_i + delta / kappa = n`. The error
is the squared error summed over the target's outputs, averaged over test points: for one-hot
targets, `p_i` is summed over the classes.

The operator's spectrum is estimated on a pool of M samples: the eigenvalues of `K / M` and the
targets' squared projections on the eigenvectors, divided by M. A pool has only M modes, its last
ones are biased, and the power of whatever it cannot resolve is spread over all of them, so at n
approaching M the plain estimate learns too much too early. `without_noise_floor` moves that spread
power into `noise`; `with_power_law_tail` replaces the modes beyond a fitted range by power laws
(the capacity exponent of the eigenvalues, the source exponent of the target's residual power)
continued far beyond the pool, keeping the pool's trace and total target power.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg
import scipy.optimize


@dataclasses.dataclass(frozen=True)
class Spectrum:
    """Eigenvalues of a kernel's integral operator, largest first, and the target's power on each
    eigenfunction (summed over the target's outputs); `noise` is target power no mode carries."""

    eigenvalues: np.ndarray
    target_power: np.ndarray
    noise: float = 0.0

    def __post_init__(self) -> None:
        if self.eigenvalues.shape != self.target_power.shape or self.eigenvalues.ndim != 1:
            raise ValueError("a spectrum needs one target power per eigenvalue")

    @property
    def trace(self) -> float:
        """The operator's trace: the mean diagonal of the kernel on the data distribution."""
        return float(self.eigenvalues.sum())

    def captured_power(self) -> np.ndarray:
        """The cumulative fraction of the target's power on the top k modes, for k = 1 ... modes
        (the kernel's alignment with the task)."""
        total = self.target_power.sum() + self.noise
        return np.cumsum(self.target_power) / total


def pool_spectrum(kernel: np.ndarray, targets: np.ndarray) -> Spectrum:
    """The spectrum of a kernel on a pool of M samples, in float64.

    **Arguments:** `kernel`, the M x M kernel of the pool (symmetric: its lower triangle is read);
    `targets`, its `(M, outputs)` targets (one-hot labels for classification).

    **Returns:** the eigenvalues of `kernel / M`, largest first (negative round-off clipped to 0), and
    `(u_i . y)^2 / M` summed over outputs, so that the target powers sum to the targets' mean
    squared norm.

    One float64 copy of the kernel is factored in place (LAPACK's divide and conquer), so the
    memory this adds is that copy and LAPACK's workspace, about 3 x 8 M^2 bytes.
    """
    pool = len(kernel)
    matrix = np.array(kernel, dtype=np.float64, order="F")
    targets = np.asarray(targets, dtype=np.float64).reshape(pool, -1)
    eigenvalues, eigenvectors = scipy.linalg.eigh(matrix, lower=True, overwrite_a=True, check_finite=False, driver="evd")
    projections = (eigenvectors.T @ targets)[::-1]  # eigh's order is ascending
    return Spectrum(np.clip(eigenvalues[::-1] / pool, 0.0, None), (projections**2).sum(axis=1) / pool)


def effective_regularisation(spectrum: Spectrum, n: int, ridge: float) -> float:
    """The `kappa > 0` with `sum_i lambda_i / (lambda_i + kappa) + ridge / kappa = n`.

    `ridge` is the absolute ridge added to the n x n kernel's diagonal. With `ridge = 0` and no more
    modes than `n`, there is no solution (the regression interpolates every mode) and this raises.
    """
    eigenvalues = spectrum.eigenvalues[spectrum.eigenvalues > 0]
    if ridge <= 0 and len(eigenvalues) <= n:
        raise ValueError(f"{len(eigenvalues)} modes cannot absorb n = {n} samples without a ridge")

    def excess(log_kappa: float) -> float:
        kappa = np.exp(log_kappa)
        return float(np.sum(eigenvalues / (eigenvalues + kappa)) + ridge / kappa - n)

    low, high = np.log(eigenvalues[-1]) - 50.0, np.log(eigenvalues[0] + ridge) + 5.0
    return float(np.exp(scipy.optimize.brentq(excess, low, high, xtol=1e-14, rtol=1e-12)))


def predicted_test_mse(spectrum: Spectrum, n: int, ridge: float) -> float:
    """The test error (squared error summed over outputs, averaged over test points) kernel ridge
    regression on `n` samples with absolute ridge `ridge` is predicted to reach."""
    kappa = effective_regularisation(spectrum, n, ridge)
    learnability = spectrum.eigenvalues / (spectrum.eigenvalues + kappa)
    unlearned = float(np.sum((1.0 - learnability) ** 2 * spectrum.target_power)) + spectrum.noise
    return n / (n - float(np.sum(learnability**2))) * unlearned


@dataclasses.dataclass(frozen=True)
class SpectralExponents:
    """Power laws fitted over the modes `first ... last` (1-based): eigenvalues `lambda_k ~ k^-capacity`
    and the target's residual power on the modes, `sum_{j > k} p_j ~ k^-source`."""

    capacity: float
    source: float
    first: int
    last: int

    @property
    def predicted_alpha(self) -> float:
        """The exponent of test error in n these predict at vanishing ridge: the residual power
        beyond the ~n learned modes, `min(source, 2 * capacity)` (the second once the kernel's own
        decay, not the target, limits learning)."""
        return min(self.source, 2.0 * self.capacity)


def fit_exponents(spectrum: Spectrum, first: int, last: int) -> SpectralExponents:
    """Least-squares power laws on log axes over the modes `first ... last` (1-based, inclusive)."""
    if not 1 <= first < last <= len(spectrum.eigenvalues) - 1:
        raise ValueError(f"modes {first}...{last} are not a range inside 1...{len(spectrum.eigenvalues) - 1}")
    modes = np.arange(first, last + 1)
    residual = _residual_power(spectrum)[first : last + 1]
    eigenvalues = spectrum.eigenvalues[first - 1 : last]
    if np.any(eigenvalues <= 0) or np.any(residual <= 0):
        raise ValueError(f"modes {first}...{last} include a zero eigenvalue or no residual target power")
    capacity = -np.polyfit(np.log(modes), np.log(eigenvalues), 1)[0]
    source = -np.polyfit(np.log(modes), np.log(residual), 1)[0]
    return SpectralExponents(float(capacity), float(source), first, last)


def without_noise_floor(spectrum: Spectrum, first: int) -> Spectrum:
    """The spectrum with the pool's noise floor moved from its modes into `noise`.

    Target power that no resolved mode carries (label noise, or the part of the target beyond the
    pool's modes) projects on every eigenvector of a pool of M samples alike, about `noise / M`
    each, so a plain pool spectrum counts `k / M` of it as learned by its top k modes. Its level is
    the mean target power over the modes `first ... M` (1-based), where the target's own power has
    died away; it is taken off every mode (a mode may go slightly negative, which keeps the
    estimate unbiased) and `M` times it added to `noise`.
    """
    modes = len(spectrum.target_power)
    if not 1 <= first <= modes:
        raise ValueError(f"mode {first} is not inside 1...{modes}")
    floor = float(np.mean(spectrum.target_power[first - 1 :]))
    return Spectrum(spectrum.eigenvalues, spectrum.target_power - floor, spectrum.noise + floor * modes)


def with_power_law_tail(spectrum: Spectrum, exponents: SpectralExponents, modes: int) -> Spectrum:
    """The spectrum with its modes beyond `exponents.last` replaced by the fitted power laws, out to
    `modes` modes in all.

    The eigenvalues beyond the range fall as `k^-capacity` and keep the sum of the pool's eigenvalues
    there (a pool's trace is an unbiased estimate of the operator's, tail included); the target's
    power beyond the range keeps the pool's total and is spread so that its residual falls as
    `k^-source`, the part beyond `modes` being left in `noise` (power no mode learns).
    """
    last = exponents.last
    if modes <= last:
        raise ValueError(f"a tail needs more than {last} modes")
    tail = np.arange(last + 1, modes + 1, dtype=np.float64) ** -exponents.capacity
    tail_eigenvalues = tail * (spectrum.eigenvalues[last:].sum() / tail.sum())
    remaining = float(_residual_power(spectrum)[last])
    # residual after mode k, for k = last ... modes: remaining * (k / last)^-source
    residual = remaining * (np.arange(last, modes + 1) / last) ** -exponents.source
    return Spectrum(
        np.concatenate([spectrum.eigenvalues[:last], tail_eigenvalues]),
        np.concatenate([spectrum.target_power[:last], -np.diff(residual)]),
        spectrum.noise + float(residual[-1]),
    )


def _residual_power(spectrum: Spectrum) -> np.ndarray:
    """`r[k]`: the modes' target power beyond the first k modes, for k = 0 ... modes."""
    return np.concatenate([np.cumsum(spectrum.target_power[::-1])[::-1], [0.0]])

"""Kernel regression theory from a spectrum: the eigenlearning prediction of test error, checked
against simulated ridge regression with a linear kernel on Gaussian data (where the operator's
spectrum is known exactly), the pool estimate of a spectrum, its power-law tail and the exponents."""

from __future__ import annotations

import numpy as np
import pytest

from ntkbench.numerics._spectrum import (
    Spectrum,
    effective_regularisation,
    fit_exponents,
    pool_spectrum,
    predicted_test_mse,
    without_noise_floor,
)

pytestmark = pytest.mark.parity  # numpy and scipy only: the theory must hold on every stack

DIMENSION = 1000
COVARIANCE = np.arange(1, DIMENSION + 1, dtype=np.float64) ** -1.5
"""x ~ N(0, diag(COVARIANCE)): the linear kernel x . x' has these eigenvalues, with eigenfunctions
x_k / sqrt(COVARIANCE_k)."""
WEIGHTS = np.arange(1, DIMENSION + 1, dtype=np.float64) ** -0.5
NOISE = 1e-3
RIDGE = 1e-3


def linear_gaussian_spectrum(covariance: np.ndarray, weights: np.ndarray, noise: float) -> Spectrum:
    """The target `y = weights . x + noise` has power `weights_k^2 * covariance_k` on mode k."""
    return Spectrum(covariance, weights**2 * covariance, noise)


def simulated_test_mse(n: int, draws: int, rng: np.random.Generator) -> tuple[float, float]:
    """Mean and standard error, over `draws` training sets, of ridge regression's exact test error
    `(w - w_hat)^T Sigma (w - w_hat) + noise` (solved in the n x n kernel form the learners use)."""
    errors = np.empty(draws)
    for draw in range(draws):
        x = rng.standard_normal((n, DIMENSION)) * np.sqrt(COVARIANCE)
        y = x @ WEIGHTS + np.sqrt(NOISE) * rng.standard_normal(n)
        fitted = x.T @ np.linalg.solve(x @ x.T + RIDGE * np.eye(n), y)
        errors[draw] = np.sum((WEIGHTS - fitted) ** 2 * COVARIANCE) + NOISE
    return float(errors.mean()), float(errors.std(ddof=1) / np.sqrt(draws))


@pytest.mark.parametrize("n", [32, 64, 128, 256])
def test_the_prediction_matches_simulated_ridge_regression_within_5_percent(n):
    spectrum = linear_gaussian_spectrum(COVARIANCE, WEIGHTS, NOISE)
    simulated, standard_error = simulated_test_mse(n, draws=12800 // n, rng=np.random.default_rng(n))
    assert standard_error < 0.015 * simulated, "too few draws to test a 5% agreement"
    assert predicted_test_mse(spectrum, n, RIDGE) == pytest.approx(simulated, rel=0.05)


def test_the_effective_regularisation_solves_its_equation_and_needs_a_ridge_to_exceed_the_modes():
    spectrum = linear_gaussian_spectrum(COVARIANCE, WEIGHTS, NOISE)
    for n, ridge in [(10, 0.0), (100, 1e-3), (5000, 1e-2)]:
        kappa = effective_regularisation(spectrum, n, ridge)
        learned = np.sum(COVARIANCE / (COVARIANCE + kappa)) + ridge / kappa
        assert learned == pytest.approx(n, rel=1e-9)
    with pytest.raises(ValueError, match="cannot absorb"):
        effective_regularisation(spectrum, DIMENSION, 0.0)


def test_a_larger_ridge_or_more_noise_raises_the_predicted_error_at_small_n():
    spectrum = linear_gaussian_spectrum(COVARIANCE, WEIGHTS, NOISE)
    noisier = linear_gaussian_spectrum(COVARIANCE, WEIGHTS, 10 * NOISE)
    assert predicted_test_mse(spectrum, 64, 1.0) > predicted_test_mse(spectrum, 64, RIDGE)
    assert predicted_test_mse(noisier, 64, RIDGE) > predicted_test_mse(spectrum, 64, RIDGE)


def test_a_pool_spectrum_keeps_the_kernels_trace_and_the_targets_power():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((300, 40))
    kernel, targets = features @ features.T, np.eye(3)[rng.integers(0, 3, 300)]
    spectrum = pool_spectrum(kernel, targets)
    assert np.all(np.diff(spectrum.eigenvalues) <= 0) and np.all(spectrum.eigenvalues >= 0)
    assert spectrum.trace == pytest.approx(np.trace(kernel) / 300, rel=1e-10)
    assert spectrum.target_power.sum() == pytest.approx(1.0, rel=1e-10)  # one-hot: |y|^2 = 1
    captured = spectrum.captured_power()
    assert np.all(np.diff(captured) >= -1e-15) and captured[-1] == pytest.approx(1.0)
    assert captured[39] < 1.0  # a rank-40 kernel leaves part of the labels' power unexplained


def test_exponents_are_recovered_from_exact_power_laws_and_predict_alpha():
    modes = np.arange(1, 1_000_001, dtype=np.float64)
    residual = np.concatenate([[1.0], modes**-0.8])  # target power beyond the first k modes
    spectrum = Spectrum(modes**-1.3, residual[:-1] - residual[1:], noise=residual[-1])
    exponents = fit_exponents(spectrum, 10, 500)
    assert exponents.capacity == pytest.approx(1.3, abs=1e-9)
    assert exponents.source == pytest.approx(0.8, abs=2e-3)
    assert exponents.predicted_alpha == pytest.approx(0.8, abs=2e-3)
    steep_target = Spectrum(modes**-0.3, spectrum.target_power)
    assert fit_exponents(steep_target, 10, 500).predicted_alpha == pytest.approx(0.6, abs=1e-6)
    with pytest.raises(ValueError, match="not a range"):
        fit_exponents(spectrum, 500, 10)


def pool_of_gaussian_samples(noise: float, pool: int = 1024, dimension: int = 8000) -> tuple[Spectrum, Spectrum]:
    """The exact spectrum of the linear kernel on N(0, diag(k^-1.5)) in `dimension` dimensions with
    the target `k^-0.5 . x` plus label noise, and the spectrum a pool of `pool` samples estimates."""
    covariance = np.arange(1, dimension + 1, dtype=np.float64) ** -1.5
    weights = np.arange(1, dimension + 1, dtype=np.float64) ** -0.5
    rng = np.random.default_rng(1)
    x = rng.standard_normal((pool, dimension)) * np.sqrt(covariance)
    y = x @ weights + np.sqrt(noise) * rng.standard_normal(pool)
    return linear_gaussian_spectrum(covariance, weights, noise), pool_spectrum(x @ x.T, y[:, None])


def test_a_pools_noise_floor_is_moved_into_noise_keeping_the_targets_power():
    exact, estimated = pool_of_gaussian_samples(noise=0.05)
    signal = without_noise_floor(estimated, 513)
    assert signal.noise == pytest.approx(0.05, rel=0.1)
    assert signal.target_power.sum() + signal.noise == pytest.approx(estimated.target_power.sum(), rel=1e-12)
    assert np.all(signal.eigenvalues == estimated.eigenvalues)
    with pytest.raises(ValueError, match="not inside"):
        without_noise_floor(estimated, 1025)


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_a_pools_spectrum_falls_short_at_large_n_and_its_corrections_mend_it(noise):
    """A pool of M = 1024 Gaussian samples in 8000 dimensions: the plain estimate learns too much at
    n = M / 4 (the noise every pool mode carries, and its truncated, biased tail); with its noise
    floor moved into noise and its modes beyond M / 16 continued by the fitted power laws (as the
    leaderboard does), it stays within 7% of the exact spectrum's prediction at every n."""
    from ntkbench.analysis._spectral_predictions import corrected_spectrum

    exact, estimated = pool_of_gaussian_samples(noise)
    corrected, exponents, noise_fraction = corrected_spectrum(estimated.eigenvalues, estimated.target_power, (4, 64))
    assert noise_fraction == pytest.approx(noise / estimated.target_power.sum(), abs=0.005)
    assert exponents.capacity == pytest.approx(1.5, abs=0.05)
    assert corrected.trace == pytest.approx(estimated.trace, rel=1e-12)
    assert corrected.target_power.sum() + corrected.noise == pytest.approx(estimated.target_power.sum(), rel=1e-12)
    plain_shortfall = 1 - predicted_test_mse(estimated, 256, RIDGE) / predicted_test_mse(exact, 256, RIDGE)
    assert plain_shortfall > 0.2
    for n in [32, 64, 128, 256]:
        assert predicted_test_mse(corrected, n, RIDGE) == pytest.approx(predicted_test_mse(exact, n, RIDGE), rel=0.07)

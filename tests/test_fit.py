"""The exponent fit recovers known power laws and says when it cannot fit."""

from __future__ import annotations

import numpy as np
import pytest

from ntkbench import fit_exponent, fit_power_law

N = np.array([64, 128, 256, 512, 1024, 2048, 4096])


def test_exact_power_law_is_recovered():
    alpha, prefactor = fit_power_law(N, 3.0 * N**-0.37)
    assert alpha == pytest.approx(0.37, abs=1e-12) and prefactor == pytest.approx(3.0, rel=1e-10)


def test_noisy_seeds_give_an_interval_around_the_true_exponent():
    rng = np.random.default_rng(7)
    true_alpha = 0.42
    table = 2.0 * N[None, :] ** -true_alpha * np.exp(rng.normal(0, 0.05, size=(8, len(N))))
    fit = fit_exponent(N, table)
    assert fit.alpha == pytest.approx(true_alpha, abs=0.02)
    assert fit.ci_low < true_alpha < fit.ci_high
    assert fit.ci_high - fit.ci_low < 0.05
    assert fit.seeds == 8 and fit.n_values == tuple(N)


def test_interval_widens_with_noise():
    rng = np.random.default_rng(1)
    base = N[None, :] ** -0.3
    quiet = fit_exponent(N, base * np.exp(rng.normal(0, 0.01, size=(5, len(N)))))
    loud = fit_exponent(N, base * np.exp(rng.normal(0, 0.2, size=(5, len(N)))))
    assert (loud.ci_high - loud.ci_low) > 5 * (quiet.ci_high - quiet.ci_low)


def test_result_is_reproducible():
    table = N[None, :] ** -0.5 * np.exp(np.random.default_rng(3).normal(0, 0.1, size=(4, len(N))))
    assert fit_exponent(N, table) == fit_exponent(N, table)


def test_fewer_than_three_sizes_give_no_exponent():
    fit = fit_exponent(N[:2], np.array([[0.5, 0.4], [0.5, 0.4]]))
    assert not fit.has_exponent and "at least 3" in fit.reason


def test_missing_cells_and_zero_errors_are_left_out():
    table = np.tile(N[None, :] ** -0.5, (3, 1))
    table[0, 2] = np.nan  # one seed missing at one n: the other seeds still give the mean
    table[:, 6] = 0.0  # zero error at the largest n: no logarithm, left out
    fit = fit_exponent(N, table)
    assert fit.alpha == pytest.approx(0.5, abs=1e-9)
    assert fit.n_values == tuple(N[:6])


def test_one_seed_gives_an_exponent_without_interval():
    fit = fit_exponent(N, N[None, :] ** -0.25)
    assert fit.alpha == pytest.approx(0.25) and not fit.has_interval and "one seed" in fit.reason

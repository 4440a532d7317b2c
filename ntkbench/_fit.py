"""Data-scaling exponents: metric = a * n^-alpha, fitted by least squares on log-log axes.

The point estimate fits the seed-mean of the metric at each n. The 95% interval is a
percentile bootstrap over seeds: seeds are resampled with replacement, the means are
recomputed and the line refitted, so the interval reflects how much the exponent
depends on which initialisations and training subsets were drawn.
"""

from __future__ import annotations

import dataclasses

import numpy as np

MIN_POINTS = 3
"""Fewer sample sizes than this in the fit window give no exponent."""
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
"""Fixed, so that the same records always render the same leaderboard."""


def fit_power_law(n: np.ndarray, metric: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of `log(metric) = log(a) - alpha * log(n)`; returns `(alpha, a)`.

    >>> alpha, a = fit_power_law(np.array([10, 100, 1000]), 2.0 * np.array([10, 100, 1000]) ** -0.5)
    >>> round(alpha, 6), round(a, 6)
    (0.5, 2.0)
    """
    slope, intercept = np.polyfit(np.log(n), np.log(metric), 1)
    return float(-slope), float(np.exp(intercept))


def _weighted_slopes(log_n: np.ndarray, log_metric: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Least-squares slope of each row of `log_metric` against `log_n`, counting only weighted points."""
    total = weight.sum(axis=1, keepdims=True)
    x_mean = (weight * log_n).sum(axis=1, keepdims=True) / total
    y_mean = (weight * log_metric).sum(axis=1, keepdims=True) / total
    covariance = (weight * (log_n - x_mean) * (log_metric - y_mean)).sum(axis=1)
    variance = (weight * (log_n - x_mean) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return covariance / variance


@dataclasses.dataclass(frozen=True)
class ExponentFit:
    """The fitted exponent of one learner, or the reason there is none."""

    n_values: tuple[int, ...]
    """Sample sizes in the fit window that entered the fit."""
    seeds: int
    alpha: float | None = None
    prefactor: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    reason: str | None = None
    """Why there is no exponent (or no interval), for the leaderboard."""

    @property
    def has_exponent(self) -> bool:
        return self.alpha is not None

    @property
    def has_interval(self) -> bool:
        return self.ci_low is not None


def fit_exponent(n_values: np.ndarray, table: np.ndarray, level: float = 0.95) -> ExponentFit:
    """Fit the exponent from `table[seed, i]`, the metric of each seed at `n_values[i]` (NaN: missing).

    Sample sizes whose seed-mean is not positive (a zero error has no logarithm) are left out.
    """
    n_values = np.asarray(n_values, dtype=np.float64)
    table = np.asarray(table, dtype=np.float64).reshape(-1, len(n_values))
    observed = ~np.isnan(table)
    seeds = int(observed.any(axis=1).sum())
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.where(observed, table, np.nan), axis=0) if observed.any() else np.full(len(n_values), np.nan)
    usable = np.isfinite(mean) & (mean > 0)
    used_n = tuple(int(n) for n in n_values[usable])
    if usable.sum() < MIN_POINTS:
        why = f"{int(usable.sum())} sample size(s) with results in the fit window; at least {MIN_POINTS} are needed"
        if (np.isfinite(mean) & (mean <= 0)).any():
            why += " (a mean metric of 0 has no logarithm)"
        return ExponentFit(used_n, seeds, reason=why)
    alpha, prefactor = fit_power_law(n_values[usable], mean[usable])
    if seeds < 2:
        return ExponentFit(used_n, seeds, alpha, prefactor, reason="one seed: no bootstrap interval")

    rng = np.random.default_rng(BOOTSTRAP_SEED)
    rows = np.flatnonzero(observed.any(axis=1))
    draws = rng.choice(rows, size=(BOOTSTRAP_RESAMPLES, len(rows)), replace=True)
    sample = table[draws][:, :, usable]  # (resample, seed, n)
    present = ~np.isnan(sample)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.nansum(sample, axis=1) / present.sum(axis=1)
        log_means = np.log(np.where(means > 0, means, np.nan))
    weight = np.isfinite(log_means).astype(np.float64)
    slopes = _weighted_slopes(np.log(n_values[usable])[None, :], np.nan_to_num(log_means), weight)
    valid = np.isfinite(slopes) & (weight.sum(axis=1) >= MIN_POINTS)
    tail = (1 - level) / 2
    low, high = np.quantile(-slopes[valid], [tail, 1 - tail])
    return ExponentFit(used_n, seeds, alpha, prefactor, float(low), float(high))

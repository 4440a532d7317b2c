"""Data-scaling laws: a learner's metric against the training-set size n.

Two models, both fitted to the seed-mean metric on log axes:

- the power law `metric = a * n^-alpha`, by least squares of log(metric) on log(n);
- the saturating law `metric = a * n^-alpha + c` with an irreducible error `c >= 0`, by
  bounded nonlinear least squares of log(metric).

Which one describes the data better is judged on held-out n: both are fitted without the
largest sizes and judged by how well they predict them.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import scipy.optimize

Model = Literal["power_law", "saturating"]
MODELS: tuple[Model, ...] = ("power_law", "saturating")
MIN_POINTS = 3
"""Fewer sample sizes than this give no exponent."""
MAX_ALPHA = 4.0
"""Upper bound of alpha in the saturating fit (keeps the bounded problem well posed)."""


@dataclasses.dataclass(frozen=True)
class ScalingLaw:
    """A fitted law `prefactor * n^-alpha + floor` (floor 0 for the power law)."""

    model: Model
    alpha: float
    prefactor: float
    floor: float = 0.0

    def predict(self, n: np.ndarray | float) -> np.ndarray:
        return self.prefactor * np.asarray(n, dtype=np.float64) ** -self.alpha + self.floor


def fit_power_law(n: np.ndarray, metric: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of `log(metric) = log(a) - alpha * log(n)`; returns `(alpha, a)`.

    >>> alpha, a = fit_power_law(np.array([10, 100, 1000]), 2.0 * np.array([10, 100, 1000]) ** -0.5)
    >>> round(alpha, 6), round(a, 6)
    (0.5, 2.0)
    """
    slope, intercept = np.polyfit(np.log(n), np.log(metric), 1)
    return float(-slope), float(np.exp(intercept))


def fit_saturating(
    n: np.ndarray, metric: np.ndarray, start: tuple[float, float, float] | None = None
) -> tuple[float, float, float]:
    """Bounded least squares of `log(metric)` against `log(a * n^-alpha + c)`; returns `(alpha, a, c)`.

    Bounds: `0 <= alpha <= MAX_ALPHA`, `a > 0`, `0 <= c < min(metric)`. Without `start`, started
    from the power-law fit with no floor and with a floor of half the smallest metric, and the
    better optimum wins; with `start` (a nearby fit, as in resampling), from there only.
    """
    n = np.asarray(n, dtype=np.float64)
    metric = np.asarray(metric, dtype=np.float64)
    log_n, log_metric = np.log(n), np.log(metric)
    c_max = float(metric.min()) * (1 - 1e-9)

    def residuals(theta: np.ndarray) -> np.ndarray:
        log_a, alpha, c = theta
        return np.log(np.exp(log_a - alpha * log_n) + c) - log_metric

    def jacobian(theta: np.ndarray) -> np.ndarray:
        log_a, alpha, c = theta
        power = np.exp(log_a - alpha * log_n)
        total = power + c
        return np.stack([power / total, -log_n * power / total, 1.0 / total], axis=1)

    if start is None:
        alpha0, a0 = fit_power_law(n, metric)
        starts = [(alpha0, a0, c0) for c0 in (0.0, 0.5 * c_max)]
    else:
        starts = [start]
    best = None
    for alpha0, a0, c0 in starts:
        theta0 = np.array([np.log(max(a0, 1e-12)), np.clip(alpha0, 1e-6, MAX_ALPHA - 1e-6), np.clip(c0, 0.0, 0.999 * c_max)])
        result = scipy.optimize.least_squares(
            residuals, theta0, jac=jacobian, bounds=([-np.inf, 0.0, 0.0], [np.inf, MAX_ALPHA, c_max]), method="trf"
        )
        if best is None or result.cost < best.cost:
            best = result
    log_a, alpha, c = best.x
    return float(alpha), float(np.exp(log_a)), float(c)


def fit_law(model: Model, n: np.ndarray, metric: np.ndarray) -> ScalingLaw:
    if model == "power_law":
        return ScalingLaw("power_law", *fit_power_law(n, metric))
    alpha, prefactor, floor = fit_saturating(n, metric)
    return ScalingLaw("saturating", alpha, prefactor, floor)


def held_out_errors(n: np.ndarray, metric: np.ndarray, held_out: int = 1) -> dict[Model, float] | None:
    """Mean |log(predicted / observed)| at the `held_out` largest n for each model fitted without them.

    None when fewer than `MIN_POINTS` sizes would remain to fit on.
    """
    if len(n) < MIN_POINTS + held_out:
        return None
    errors = {}
    for model in MODELS:
        law = fit_law(model, n[:-held_out], metric[:-held_out])
        errors[model] = float(np.mean(np.abs(np.log(law.predict(n[-held_out:]) / metric[-held_out:]))))
    return errors


def power_law_slopes(log_n: np.ndarray, log_metric: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Power-law exponents of many curves at once: `-slope` of each row of `log_metric` against
    `log_n`, counting only points of nonzero weight (NaN where fewer than two remain)."""
    total = weight.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_mean = (weight * log_n).sum(axis=1, keepdims=True) / total
        y_mean = (weight * log_metric).sum(axis=1, keepdims=True) / total
        covariance = (weight * (log_n - x_mean) * (log_metric - y_mean)).sum(axis=1)
        variance = (weight * (log_n - x_mean) ** 2).sum(axis=1)
        return -covariance / variance

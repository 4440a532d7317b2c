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
    better optimum wins; with `start` (a nearby fit, as in resampling), from there only. One row
    of `fit_saturating_many`.
    """
    metric = np.asarray(metric, dtype=np.float64)
    starts = None if start is None else np.asarray([start], dtype=np.float64)
    alpha, prefactor, floor = fit_saturating_many(n, metric[None, :], starts=starts)[0]
    return float(alpha), float(prefactor), float(floor)


def fit_saturating_many(
    n: np.ndarray, metrics: np.ndarray, usable: np.ndarray | None = None, starts: np.ndarray | None = None
) -> np.ndarray:
    """`fit_saturating` of many curves in one vectorised solve: rows `(alpha, a, c)`.

    **Arguments:**
    - `n`: the sizes, shape `(m,)`, or `(curves, m)` for a grid per curve.
    - `metrics`: shape `(curves, m)`; a point counts where `usable` (default everywhere) holds and
      the metric is finite and positive.
    - `starts`: `(curves, 3)` rows of `(alpha, a, c)` to start each curve from (a nearby fit, as in
      resampling); without it each curve starts from its power-law fit with no floor and with a
      floor of half its smallest metric, and the better optimum wins.

    **Returns:** `(curves, 3)`; NaN for a curve with no point to fit.

    The solver is a projected Levenberg-Marquardt on `(log a, alpha, c)`: a parameter at a bound
    that the gradient pushes outwards is held there, the others take a damped Gauss-Newton step,
    clipped to the box. It converges to scipy's bounded least squares at tight tolerances
    (`tests/test_fit.py`), at the cost of a handful of array operations per iteration for every
    curve together instead of one Python-level solve per curve.
    """
    metrics = np.atleast_2d(np.asarray(metrics, dtype=np.float64))
    count = len(metrics)
    log_n = np.broadcast_to(np.log(np.asarray(n, dtype=np.float64)), metrics.shape)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(metrics) & (metrics > 0)
    if usable is not None:
        ok &= usable
    weight = ok.astype(np.float64)
    log_metric = np.log(np.where(ok, metrics, 1.0))
    c_max = np.where(ok, metrics, np.inf).min(axis=1) * (1 - 1e-9)
    fittable = ok.any(axis=1)
    c_max = np.where(fittable, c_max, 1.0)
    power_alpha, power_log_a = _power_law_rows(log_n, log_metric, weight)
    if starts is None:
        alpha0, log_a0 = np.nan_to_num(power_alpha), np.nan_to_num(power_log_a)
        tries = 2
        start_rows = np.stack(
            [np.repeat(alpha0, tries), np.exp(np.repeat(log_a0, tries)), np.stack([np.zeros(count), 0.5 * c_max], 1).ravel()], 1
        )
    else:
        tries = 1
        start_rows = np.asarray(starts, dtype=np.float64).reshape(count, 3)
    repeat = np.repeat(np.arange(count), tries)
    limit = c_max[repeat]
    theta0 = np.stack([
        np.log(np.maximum(start_rows[:, 1], 1e-12)),
        np.clip(start_rows[:, 0], 1e-6, MAX_ALPHA - 1e-6),
        np.clip(start_rows[:, 2], 0.0, 0.999 * limit),
    ], axis=1)
    theta, cost = _projected_levenberg_marquardt(log_n[repeat], log_metric[repeat], weight[repeat], limit, theta0)
    best = np.argmin(cost.reshape(count, tries), axis=1)  # the first start on a tie
    theta = theta.reshape(count, tries, 3)[np.arange(count), best]
    # A floor at its bound 0 leaves the power law, whose least-squares fit is exact: taken from there,
    # such a curve's two laws are the same law, not two solutions a rounding error apart.
    no_floor = (theta[:, 2] == 0.0) & np.isfinite(power_alpha) & (power_alpha >= 0) & (power_alpha <= MAX_ALPHA)
    theta[no_floor, 0], theta[no_floor, 1] = power_log_a[no_floor], power_alpha[no_floor]
    fitted = np.stack([theta[:, 1], np.exp(theta[:, 0]), theta[:, 2]], axis=1)
    return np.where(fittable[:, None], fitted, np.nan)


_MAX_ITERATIONS = 200


def _projected_levenberg_marquardt(
    log_n: np.ndarray, log_metric: np.ndarray, weight: np.ndarray, c_max: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise `0.5 * sum(weight * (log(exp(log_a - alpha log_n) + c) - log_metric)^2)` for each
    row, within `0 <= alpha <= MAX_ALPHA`, `0 <= c <= c_max`; returns the parameters and costs.

    A row stops when an accepted step no longer lowers its cost (relative 1e-15), its projected
    gradient vanishes, or no damping finds a lower cost."""
    rows = len(theta)
    low = np.stack([np.full(rows, -np.inf), np.zeros(rows), np.zeros(rows)], axis=1)
    high = np.stack([np.full(rows, np.inf), np.full(rows, MAX_ALPHA), c_max], axis=1)
    theta = np.clip(theta, low, high)

    def residuals(theta: np.ndarray, log_n: np.ndarray, log_metric: np.ndarray, weight: np.ndarray):
        power = np.exp(theta[:, :1] - theta[:, 1:2] * log_n)
        total = power + theta[:, 2:3]
        return (np.log(total) - log_metric) * weight, power, total

    residual, power, total = residuals(theta, log_n, log_metric, weight)
    cost = 0.5 * np.sum(residual**2, axis=1)
    damping = np.full(rows, 1e-3)
    running = np.ones(rows, dtype=bool)
    identity = np.eye(3)
    for _ in range(_MAX_ITERATIONS):
        if not running.any():
            break
        share = power / total
        jacobian = np.stack([share, -log_n * share, 1.0 / total], axis=2) * weight[:, :, None]
        gradient = np.einsum("rmi,rm->ri", jacobian, residual)
        hessian = np.einsum("rmi,rmj->rij", jacobian, jacobian)
        free = ~(((theta <= low) & (gradient > 0)) | ((theta >= high) & (gradient < 0)))
        diagonal = np.maximum(np.diagonal(hessian, axis1=1, axis2=2), 1e-12)
        system = hessian + damping[:, None, None] * diagonal[:, :, None] * identity
        system = np.where(free[:, :, None] & free[:, None, :], system, identity * ~free[:, :, None])
        step = -np.linalg.solve(system, (gradient * free)[:, :, None])[:, :, 0]
        trial = np.clip(theta + step, low, high)
        trial_residual, trial_power, trial_total = residuals(trial, log_n, log_metric, weight)
        trial_cost = 0.5 * np.sum(trial_residual**2, axis=1)
        better = running & (trial_cost < cost)
        settled = (
            (better & (cost - trial_cost <= 1e-15 * (trial_cost + 1e-300)))
            | (np.abs(np.where(free, gradient, 0.0)).max(axis=1) <= 1e-14)
            | (np.abs(trial - theta).max(axis=1) < 1e-13)
            | (damping > 1e14)
        )
        keep = better[:, None]
        theta = np.where(keep, trial, theta)
        residual, power, total = (np.where(keep, new, old) for new, old in
                                  ((trial_residual, residual), (trial_power, power), (trial_total, total)))
        cost = np.where(better, trial_cost, cost)
        damping = np.where(better, np.maximum(damping / 3, 1e-12), np.where(running, damping * 4, damping))
        running &= ~settled
    return theta, cost


def fit_law(model: Model, n: np.ndarray, metric: np.ndarray) -> ScalingLaw:
    if model == "power_law":
        return ScalingLaw("power_law", *fit_power_law(n, metric))
    alpha, prefactor, floor = fit_saturating(n, metric)
    return ScalingLaw("saturating", alpha, prefactor, floor)


def fit_laws_many(n: np.ndarray, metrics: np.ndarray, usable: np.ndarray) -> list[dict[Model, ScalingLaw]]:
    """Both laws of each curve (row of `metrics`) on its `usable` points, the saturating ones in one solve."""
    weight = usable.astype(np.float64)
    log_n = np.broadcast_to(np.log(np.asarray(n, dtype=np.float64)), metrics.shape)
    alphas, log_prefactors = _power_law_rows(log_n, np.log(np.where(usable, metrics, 1.0)), weight)
    saturating = fit_saturating_many(n, metrics, usable)
    return [
        {"power_law": ScalingLaw("power_law", float(alpha), float(np.exp(log_a))), "saturating": ScalingLaw("saturating", *map(float, row))}
        for alpha, log_a, row in zip(alphas, log_prefactors, saturating, strict=True)
    ]


TIE = 1e-8
"""Held-out errors this close (relative) are a tie: a saturating fit whose floor is 0 is the power
law, and its error differs from the power law's only by rounding."""


def better_law(errors: dict[Model, float]) -> Model:
    """The law with the smaller held-out error; the power law on a tie (within `TIE`)."""
    best = min(errors.values())
    return next(model for model in MODELS if errors[model] <= best * (1 + TIE))


def held_out_errors(n: np.ndarray, metric: np.ndarray, held_out: int = 1) -> dict[Model, float] | None:
    """Mean |log(predicted / observed)| at the `held_out` largest n for each model fitted without them.

    None when fewer than `MIN_POINTS` sizes would remain to fit on.
    """
    metric = np.asarray(metric, dtype=np.float64)
    return held_out_errors_many(n, metric[None, :], np.ones((1, len(metric)), dtype=bool), held_out)[0]


def held_out_errors_many(
    n: np.ndarray, metrics: np.ndarray, usable: np.ndarray, held_out: int = 1
) -> list[dict[Model, float] | None]:
    """`held_out_errors` of each curve (row of `metrics`) on its `usable` points, the largest
    `held_out` of them held out; the fits of every curve in one solve."""
    n = np.broadcast_to(np.asarray(n, dtype=np.float64), metrics.shape)
    positions = np.cumsum(usable, axis=1)
    counts = positions[:, -1]
    fitted_on = usable & (positions <= (counts - held_out)[:, None])
    judged = usable & ~fitted_on
    laws = fit_laws_many(n, metrics, fitted_on)
    errors: list[dict[Model, float] | None] = []
    for row, count in enumerate(counts):
        if count < MIN_POINTS + held_out:
            errors.append(None)
            continue
        sizes, observed = n[row][judged[row]], metrics[row][judged[row]]
        errors.append({model: float(np.mean(np.abs(np.log(laws[row][model].predict(sizes) / observed)))) for model in MODELS})
    return errors


def _power_law_rows(log_n: np.ndarray, log_metric: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(alpha, log a)` of the power law of each row, counting only points of nonzero weight."""
    alphas = power_law_slopes(log_n, log_metric, weight)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = weight.sum(axis=1)
        x_mean = (weight * log_n).sum(axis=1) / total
        y_mean = (weight * log_metric).sum(axis=1) / total
    return alphas, y_mean + alphas * x_mean


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

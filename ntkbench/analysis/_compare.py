"""Comparing the learners of one spec: exponents with intervals, and each learner against the reference.

Learners of one spec share seeds, nested training sets and the test set, so their errors are
paired. Every interval here comes from one joint resampling: with two or more seeds, seeds are
drawn with replacement and the same draw serves every learner; with one seed, the test set is
resampled instead (from the per-example outcomes in the records). Differences such as
Δα = α(network) − α(learner) are computed within each resample, so what the learners share
cancels.

With few seeds a percentile bootstrap is too narrow (it sees the spread of S values, not the
uncertainty of their mean). Its half-widths are therefore scaled by
`t(S-1) / z * sqrt(S / (S-1))`, which makes the interval exact for normally distributed
per-seed estimates: wide with 2 or 3 seeds, as it should be.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Literal

import numpy as np
import scipy.stats

from ._laws import MIN_POINTS, MODELS, Model, ScalingLaw, fit_law, fit_saturating, held_out_errors, power_law_slopes

RESAMPLES = 1000
RESAMPLE_SEED = 0
"""Fixed, so that the same records always render the same leaderboard."""
LEVEL = 0.95
Verdict = Literal["network scales better", "kernel scales better", "not separated", "no interval"]


@dataclasses.dataclass(frozen=True)
class Curve:
    """One learner's metric over the fit window: `table[seed, i]` at `n_values[i]` (NaN: no result).

    `outcomes[seed, i, k]` is the metric of test example k, when the records carry it.
    """

    learner_id: str
    name: str
    n_values: np.ndarray
    table: np.ndarray
    outcomes: np.ndarray | None = None

    def mean(self) -> np.ndarray:
        return _nanmean(self.table, axis=0)

    def usable(self) -> np.ndarray:
        mean = self.mean()
        return np.isfinite(mean) & (mean > 0)


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean ignoring NaN; all-NaN slices give NaN without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


@dataclasses.dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclasses.dataclass(frozen=True)
class LearnerFit:
    """A learner's fitted laws, the exponent of the spec's model and its interval, and its rank."""

    curve: Curve
    laws: dict[Model, ScalingLaw]
    model: Model
    alpha_interval: Interval | None
    floor_interval: Interval | None
    held_out: dict[Model, float] | None
    rank: int | None
    reason: str | None = None
    """Why there is no exponent or no interval."""

    @property
    def law(self) -> ScalingLaw | None:
        return self.laws.get(self.model)

    @property
    def alpha(self) -> float | None:
        return self.law.alpha if self.law else None


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One learner against the reference network."""

    learner_id: str
    delta_alpha: float
    delta_interval: Interval | None
    ratio_n: int
    error_ratio: float
    """Reference metric / learner metric at the largest n both have (below 1: the network is better)."""
    ratio_interval: Interval | None
    verdict: Verdict


@dataclasses.dataclass(frozen=True)
class SpecComparison:
    fits: list[LearnerFit]
    comparisons: list[Comparison]
    reference: str | None
    model: Model
    resampling: str
    """How the intervals were obtained, for the leaderboard."""


def _correction(seeds: int) -> float:
    z = scipy.stats.norm.ppf(0.5 + LEVEL / 2)
    return float(scipy.stats.t.ppf(0.5 + LEVEL / 2, seeds - 1) / z * np.sqrt(seeds / (seeds - 1)))


def _interval(estimate: float, draws: np.ndarray, scale: float) -> Interval | None:
    draws = draws[np.isfinite(draws)]
    if len(draws) < RESAMPLES // 2:
        return None
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return Interval(estimate - scale * (estimate - low), estimate + scale * (high - estimate))


def _resampled_means(curves: list[Curve]) -> tuple[dict[str, np.ndarray], float, str] | None:
    """`(B, N)` resampled mean curves per learner, the interval scale, and a description."""
    rng = np.random.default_rng(RESAMPLE_SEED)
    seeds = curves[0].table.shape[0]
    if seeds >= 2:
        draw = rng.integers(0, seeds, size=(RESAMPLES, seeds))
        means = {c.learner_id: _nanmean(c.table[draw], axis=1) for c in curves}
        description = (
            f"paired bootstrap over the {seeds} seeds ({RESAMPLES} resamples), half-widths scaled by "
            f"t({seeds - 1})/z·√({seeds}/{seeds - 1}) = {_correction(seeds):.2f} for the small number of seeds"
        )
        return means, _correction(seeds), description
    if any(c.outcomes is None for c in curves):
        return None
    tests = curves[0].outcomes.shape[-1]
    draw = rng.integers(0, tests, size=(RESAMPLES, tests))
    means = {c.learner_id: c.outcomes[0][:, draw].mean(axis=-1).T for c in curves}
    return means, 1.0, f"one seed: paired bootstrap over the {tests} test examples ({RESAMPLES} resamples)"


def _resampled_laws(law: ScalingLaw, n: np.ndarray, means: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(alphas, floors)` of each resampled mean curve fitted with `law`'s model (NaN where it cannot be)."""
    positive = (means > 0) & np.isfinite(means) & usable[None, :]
    enough = positive.sum(axis=1) >= MIN_POINTS
    if law.model == "power_law":
        log_means = np.log(np.where(positive, means, 1.0))
        alphas = power_law_slopes(np.log(n)[None, :], log_means, positive.astype(np.float64))
        return np.where(enough, alphas, np.nan), np.zeros(len(means))
    start = (law.alpha, law.prefactor, law.floor)
    fitted = [
        fit_saturating(n[row], curve[row], start) if ok else (np.nan, np.nan, np.nan)
        for curve, row, ok in zip(means, positive, enough, strict=True)
    ]
    return np.array([f[0] for f in fitted]), np.array([f[2] for f in fitted])


def choose_model(curves: list[Curve], setting: str) -> Model:
    """The spec's model: as set, or with `auto` the one with the smaller total held-out error."""
    if setting in MODELS:
        return setting  # type: ignore[return-value]
    totals = dict.fromkeys(MODELS, 0.0)
    for curve in curves:
        usable = curve.usable()
        errors = held_out_errors(curve.n_values[usable], curve.mean()[usable])
        for model in MODELS:
            totals[model] += errors[model] if errors else 0.0
    return min(MODELS, key=lambda model: (totals[model], MODELS.index(model)))


def compare(curves: list[Curve], model_setting: str = "power_law", reference: str = "network") -> SpecComparison:
    """Fit every learner with the spec's model, with joint intervals, ranks and comparisons against
    the learner whose id is `reference` (none when no learner has that id, or it has no fit)."""
    model = choose_model(curves, model_setting)
    resampled = _resampled_means(curves)
    scale = resampled[1] if resampled else 1.0
    draws: dict[str, np.ndarray] = {}
    fits = []
    for curve in curves:
        usable = curve.usable()
        n, mean = curve.n_values[usable], curve.mean()[usable]
        if usable.sum() < MIN_POINTS:
            reason = f"{int(usable.sum())} sample size(s) with results in the fit window; at least {MIN_POINTS} are needed"
            fits.append(LearnerFit(curve, {}, model, None, None, None, None, reason))
            continue
        laws = {m: fit_law(m, n, mean) for m in MODELS}
        reason = None if resampled else "one seed and no per-example outcomes: no interval"
        alpha_interval = floor_interval = None
        if resampled:
            alphas, floors = _resampled_laws(laws[model], curve.n_values, resampled[0][curve.learner_id], usable)
            draws[curve.learner_id] = alphas
            alpha_interval = _interval(laws[model].alpha, alphas, scale)
            if model == "saturating":
                floor_interval = _interval(laws[model].floor, floors, scale)
        fits.append(LearnerFit(curve, laws, model, alpha_interval, floor_interval, held_out_errors(n, mean), None, reason))

    fits = _ranked(fits)
    reference_fit = next((f for f in fits if f.curve.learner_id == reference and f.law), None)
    comparisons = []
    if reference_fit is not None:
        for fit in fits:
            if fit is reference_fit or fit.law is None:
                continue
            comparisons.append(_compare_pair(reference_fit, fit, draws, resampled, scale))
    return SpecComparison(
        fits, comparisons, reference if reference_fit else None, model,
        resampled[2] if resampled else "no resampling possible (one seed, no per-example outcomes)",
    )


def _ranked(fits: list[LearnerFit]) -> list[LearnerFit]:
    """Rank = 1 + the number of learners whose interval lies entirely above this one's."""
    def bounds(fit: LearnerFit) -> Interval:
        return fit.alpha_interval or Interval(fit.alpha, fit.alpha)

    fitted = [f for f in fits if f.law is not None]
    ranked = []
    for fit in fits:
        if fit.law is None:
            ranked.append(fit)
            continue
        above = sum(1 for other in fitted if bounds(other).low > bounds(fit).high)
        ranked.append(dataclasses.replace(fit, rank=1 + above))
    return sorted(ranked, key=lambda f: (f.rank is None, f.rank or 0, -(f.alpha or 0.0)))


def _compare_pair(
    reference: LearnerFit,
    other: LearnerFit,
    draws: dict[str, np.ndarray],
    resampled: tuple[dict[str, np.ndarray], float, str] | None,
    scale: float,
) -> Comparison:
    delta = reference.alpha - other.alpha
    delta_interval = ratio_interval = None
    both = reference.curve.usable() & other.curve.usable()
    last = int(np.flatnonzero(both)[-1]) if both.any() else len(both) - 1
    ratio = float(reference.curve.mean()[last] / other.curve.mean()[last])
    if resampled is not None:
        delta_interval = _interval(delta, draws[reference.curve.learner_id] - draws[other.curve.learner_id], scale)
        means = resampled[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = means[reference.curve.learner_id][:, last] / means[other.curve.learner_id][:, last]
        ratio_interval = _interval(ratio, ratios, scale)
    return Comparison(
        other.curve.learner_id, delta, delta_interval, int(other.curve.n_values[last]), ratio, ratio_interval,
        verdict(delta_interval),
    )


def verdict(interval: Interval | None) -> Verdict:
    """What the interval of Δα = α(network) − α(learner) supports."""
    if interval is None:
        return "no interval"
    if interval.low > 0:
        return "network scales better"
    if interval.high < 0:
        return "kernel scales better"
    return "not separated"

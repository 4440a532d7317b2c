"""Comparing the learners of one spec: exponents with intervals, and each learner against the reference.

Learners of one spec share seeds, nested training sets and the test set, so their errors are
paired, and every interval here comes from one joint computation: differences such as
Δα = α(network) − α(learner) are refitted with the same data left out for every learner, so
what the learners share cancels.

An interval has two parts, whose variances add:

- the seeds' (initialisation, training sets): a delete-one-seed jackknife of the estimate;
- the test set's: the test set is the same for every seed, so its sampling error is in no
  seed's spread. A delete-a-group jackknife over `TEST_GROUPS` groups of test examples (whose error has a binomial standard deviation of
  sqrt(p(1 − p) / n_test)), from the per-example outcomes in the records.
  Records without outcomes leave it out, and the leaderboard says so.

The half-width is the t quantile at S − 1 degrees of freedom (the smaller part's) times the
square root of that sum: for the mean of S normal values, the exact t interval, as wide as it
must be with 2 or 3 seeds (a percentile bootstrap over S values is far too narrow there).

With one seed there is no seed part: no interval and no verdict, unless the spec asks for the
test-set part alone (`fit.one_seed: test_set`). `tests/test_calibration.py` checks the coverage
in simulated sweeps.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ._intervals import DEFAULT_MARGIN, EQUIVALENCE_LEVEL, Interval, Spread, Verdict, verdict
from ._laws import MIN_POINTS, MODELS, Model, ScalingLaw, better_law, fit_laws_many, fit_saturating_many, held_out_errors_many, power_law_slopes

TEST_GROUPS = 20
"""Groups of test examples (every TEST_GROUPS-th example in one) for the test-set jackknife."""


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
    final_error: Interval | None = None
    """The 95% interval of the mean metric at the largest n of the fit window, on the log scale (so
    positive); None without an interval, or without a result there."""
    in_front: bool = False
    """Whether the metric at the largest n is within the best learner's interval there: ranks by α
    are given first among these learners."""

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
    """Its 95% interval, on the log scale (so positive)."""
    verdict: Verdict
    """The verdict of this law and metric alone (`verdict`); the leaderboard's weighs the others too (`decide`)."""
    delta_spread: Spread | None = None
    """The variance behind `delta_interval`, in its parts (None without an interval)."""
    margin: float = DEFAULT_MARGIN
    held_out: float | None = None
    """How well this law predicts both learners' largest size when fitted without it: the sum of their
    mean |log(predicted / observed)| there (None with fewer than 4 sizes)."""
    floors: tuple[float, float] | None = None
    """Under the saturating law, the irreducible errors (reference's, learner's)."""
    scale: float = 1.0
    """The reference's metric at `ratio_n`: what a difference of floors is measured against."""
    model: Model = "power_law"
    """The law this comparison was fitted with."""

    @property
    def equivalence_interval(self) -> Interval | None:
        """The 90% interval of Δα, whose lying inside ±margin is two one-sided tests at 5%."""
        return None if self.delta_spread is None else self.delta_spread.interval(self.delta_alpha, EQUIVALENCE_LEVEL)


@dataclasses.dataclass(frozen=True)
class SpecComparison:
    fits: list[LearnerFit]
    comparisons: list[Comparison]
    reference: str | None
    model: Model
    resampling: str
    """How the intervals were obtained, for the leaderboard."""
    margin: float = DEFAULT_MARGIN

    def rank_label(self, fit: LearnerFit) -> str:
        """The fit's rank as every view shows it: "=2" when another learner shares it, "—" without one."""
        if fit.rank is None:
            return "—"
        shared = sum(1 for other in self.fits if other.rank == fit.rank) > 1
        return f"={fit.rank}" if shared else str(fit.rank)


@dataclasses.dataclass(frozen=True)
class LeftOut:
    """Every learner's mean curve with one part of the data left out: `seeds[id][j]` without seed j
    (None with one seed, or when one-seed intervals are off), `tests[id][g]` without test group g
    (None without per-example outcomes)."""

    seed_count: int
    seeds: dict[str, np.ndarray] | None
    tests: dict[str, np.ndarray] | None
    description: str
    n_test: int | None = None
    """Test examples the test groups divide (None without per-example outcomes)."""

    def means(self, learner_id: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The learner's mean curves without each seed and without each test group (None: not left out)."""
        return tuple(None if part is None else part[learner_id] for part in (self.seeds, self.tests))

    @property
    def test_groups(self) -> int:
        return len(next(iter(self.tests.values()))) if self.tests else 0

    def spread(self, by_seed: np.ndarray | None, by_test: np.ndarray | None) -> Spread | None:
        """The variance of an estimate from its values refitted without each seed and each test group
        (None when a left-out fit failed, or nothing is left out)."""
        variances = []
        for given, values in ((self.seeds, by_seed), (self.tests, by_test)):
            if given is None:
                variances.append(None)
                continue
            error = _jackknife_error(values)
            if error is None:
                return None
            variances.append(error**2)
        if variances == [None, None]:
            return None
        return Spread(*variances, self.seed_count, self.n_test, self.test_groups)

    def interval(self, estimate: float, by_seed: np.ndarray | None, by_test: np.ndarray | None) -> Interval | None:
        """The interval of `estimate` from its values refitted without each seed and each test group:
        the two jackknife variances added, times the t quantile at the smaller of the two parts'
        degrees of freedom (S − 1 and groups − 1), the lower bound of Welch-Satterthwaite's. (Their
        Welch-Satterthwaite value itself undercovers in `tests/test_calibration.py`.)"""
        spread = self.spread(by_seed, by_test)
        return None if spread is None else spread.interval(estimate)

    def positive_interval(self, estimate: float, by_seed: np.ndarray | None, by_test: np.ndarray | None) -> Interval | None:
        """The interval of a positive quantity (an error, a ratio of errors): computed on the log
        scale, as `interval` computes it there, and mapped back, so that it is positive too."""
        with np.errstate(invalid="ignore", divide="ignore"):
            logs = [None if values is None else np.log(values) for values in (by_seed, by_test)]
            if not estimate > 0:
                return None
            log_interval = self.interval(float(np.log(estimate)), *logs)
        return None if log_interval is None else Interval(float(np.exp(log_interval.low)), float(np.exp(log_interval.high)))


def _jackknife_error(values: np.ndarray | None) -> float | None:
    """The jackknife standard error from leave-one-out values (None if any is missing)."""
    if values is None or not np.all(np.isfinite(values)):
        return None
    count = len(values)
    return float(np.sqrt((count - 1) / count * np.sum((values - values.mean()) ** 2)))


def _left_out(curves: list[Curve], one_seed: str) -> LeftOut:
    seeds = curves[0].table.shape[0]
    by_seed = None
    if seeds >= 2:
        by_seed = {c.learner_id: _means_without_each_seed(c.table) for c in curves}
    by_test, tests = None, None
    if all(c.outcomes is not None for c in curves) and (seeds >= 2 or one_seed == "test_set"):
        tests = curves[0].outcomes.shape[-1]
        groups = np.arange(tests) % min(TEST_GROUPS, tests)
        membership = (groups[None, :] == np.unique(groups)[:, None]).astype(np.float64)
        by_test = {}
        for c in curves:
            # Each group's examples left out of every (seed, n) mean at once: (total − group sum) / (rest).
            without = (c.outcomes.sum(axis=-1)[..., None] - c.outcomes @ membership.T) / (tests - membership.sum(axis=1))
            by_test[c.learner_id] = np.moveaxis(_nanmean(without, axis=0), -1, 0)
    if seeds >= 2:
        description = f"jackknife over the {seeds} seeds"
    elif by_test is not None:
        description = "one seed: the test-set part only (fit.one_seed: test_set), no spread over seeds"
    else:
        description = "one seed: no interval and no verdict (fit.one_seed: test_set gives the test-set part alone)"
    if by_test is not None:
        groups = len(by_test[curves[0].learner_id])
        description += f", plus the test set's sampling error (jackknife over {groups} groups of its {tests} examples)"
    elif seeds >= 2:
        description += "; the test set's sampling error is not included (the records hold no per-example outcomes)"
    if by_seed is not None or by_test is not None:
        freedom = seeds - 1 if seeds >= 2 else groups - 1
        description += f"; half-width t({freedom}) × the root of the summed variances"
    return LeftOut(seeds, by_seed, by_test, description, tests if by_test is not None else None)


def _means_without_each_seed(table: np.ndarray) -> np.ndarray:
    """`[j]`: the mean over seeds of `table` without seed j, ignoring NaN (NaN where no seed is left)."""
    present = np.isfinite(table)
    values = np.where(present, table, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (values.sum(axis=0)[None, :] - values) / (present.sum(axis=0)[None, :] - present)


def _refits(laws: list[ScalingLaw], n: np.ndarray, means: list[np.ndarray], usable: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """`(alphas, floors)` of each block of left-out mean curves fitted with its learner's law (NaN
    where it cannot be), every block in one solve under the saturating law."""
    positive = [(block > 0) & np.isfinite(block) & ok[None, :] for block, ok in zip(means, usable, strict=True)]
    enough = [mask.sum(axis=1) >= MIN_POINTS for mask in positive]
    if not laws:
        return []
    if laws[0].model == "power_law":
        refits = []
        for block, mask, ok in zip(means, positive, enough, strict=True):
            alphas = power_law_slopes(np.log(n)[None, :], np.log(np.where(mask, block, 1.0)), mask.astype(np.float64))
            refits.append((np.where(ok, alphas, np.nan), np.zeros(len(block))))
        return refits
    starts = np.concatenate([np.tile((law.alpha, law.prefactor, law.floor), (len(block), 1)) for law, block in zip(laws, means, strict=True)])
    fitted = fit_saturating_many(n, np.concatenate(means), np.concatenate(positive), starts)
    refits, first = [], 0
    for block, ok in zip(means, enough, strict=True):
        rows = fitted[first:first + len(block)]
        first += len(block)
        refits.append((np.where(ok, rows[:, 0], np.nan), np.where(ok, rows[:, 2], np.nan)))
    return refits


AUTO_HELD_OUT = 2
"""`fit.model: auto` judges the laws on this many largest sizes, each law fitted without them."""


def choose_model(curves: list[Curve], setting: str) -> Model:
    """The spec's model: as set, or with `auto` the one whose fits without the `AUTO_HELD_OUT`
    largest sizes predict them better (mean |log(predicted / observed)|, summed over learners);
    the power law when no learner has enough sizes, or on a tie (`better_law`)."""
    if setting in MODELS:
        return setting  # type: ignore[return-value]
    totals = dict.fromkeys(MODELS, 0.0)
    if curves:
        means = np.stack([curve.mean() for curve in curves])
        usable = np.stack([curve.usable() for curve in curves])
        for errors in held_out_errors_many(np.stack([c.n_values for c in curves]), means, usable, AUTO_HELD_OUT):
            for model in MODELS:
                totals[model] += errors[model] if errors else 0.0
    return better_law(totals)


def compare(
    curves: list[Curve],
    model_setting: str = "power_law",
    reference: str = "network",
    one_seed: str = "no_interval",
    margin: float = DEFAULT_MARGIN,
) -> SpecComparison:
    """Fit every learner with the spec's model, with joint intervals, ranks and comparisons against
    the learner whose id is `reference` (none when no learner has that id, or it has no fit).

    `one_seed`: with a single seed, `no_interval` (no interval, no verdict) or `test_set` (intervals
    from the test set's sampling error alone). `margin`: the |Δα| below which two learners are
    equivalent (`verdict`)."""
    model = choose_model(curves, model_setting)
    left_out = _left_out(curves, one_seed)
    fitted = [curve for curve in curves if curve.usable().sum() >= MIN_POINTS]
    laws_of, held_out_of, refits_of = {}, {}, {}
    if fitted:
        n_grid = np.stack([curve.n_values for curve in fitted])
        mean_table = np.stack([curve.mean() for curve in fitted])
        usable_table = np.stack([curve.usable() for curve in fitted])
        for curve, laws, held_out in zip(
            fitted, fit_laws_many(n_grid, mean_table, usable_table), held_out_errors_many(n_grid, mean_table, usable_table), strict=True
        ):
            laws_of[curve.learner_id], held_out_of[curve.learner_id] = laws, held_out
        for part in (0, 1):
            blocks = [left_out.means(curve.learner_id)[part] for curve in fitted]
            if any(block is None for block in blocks):
                continue
            part_refits = _refits([laws_of[c.learner_id][model] for c in fitted], fitted[0].n_values, blocks, list(usable_table))
            for curve, refit in zip(fitted, part_refits, strict=True):
                refits_of.setdefault(curve.learner_id, {})[part] = refit
    refits: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {}
    fits = []
    for curve in curves:
        usable = curve.usable()
        if curve.learner_id not in laws_of:
            reason = f"{int(usable.sum())} sample size(s) with results in the fit window; at least {MIN_POINTS} are needed"
            fits.append(LearnerFit(curve, {}, model, None, None, None, None, reason))
            continue
        laws = laws_of[curve.learner_id]
        left = left_out.means(curve.learner_id)
        parts = [refits_of.get(curve.learner_id, {}).get(part) for part in (0, 1)]
        alphas, floors = (tuple(None if part is None else part[k] for part in parts) for k in (0, 1))
        refits[curve.learner_id] = alphas
        alpha_interval = left_out.interval(laws[model].alpha, *alphas)
        floor_interval = left_out.interval(laws[model].floor, *floors) if model == "saturating" else None
        reason = None if alpha_interval else _no_interval_reason(left_out)
        final = None
        if np.isfinite(curve.mean()[-1]):
            final = left_out.positive_interval(float(curve.mean()[-1]), *(None if means is None else means[:, -1] for means in left))
        fits.append(
            LearnerFit(curve, laws, model, alpha_interval, floor_interval, held_out_of[curve.learner_id], None, reason, final)
        )

    fits = _ranked(fits, refits, left_out)
    reference_fit = next((f for f in fits if f.curve.learner_id == reference and f.law), None)
    comparisons = []
    if reference_fit is not None:
        for fit in fits:
            if fit is reference_fit or fit.law is None:
                continue
            comparisons.append(_compare_pair(reference_fit, fit, refits, left_out, margin))
    return SpecComparison(fits, comparisons, reference if reference_fit else None, model, left_out.description, margin)


def _no_interval_reason(left_out: LeftOut) -> str:
    if left_out.seed_count < 2 and left_out.tests is None:
        return "one seed: no interval"
    return "a left-out fit failed: no interval"


def _ranked(fits: list[LearnerFit], refits: dict[str, tuple[np.ndarray | None, np.ndarray | None]],
            left_out: LeftOut) -> list[LearnerFit]:
    """Ranks that mean "better", tied only where the data cannot order two learners. Learners share
    seeds and the test set, so each pair is judged by its paired interval, not by whether two
    learners' own intervals overlap. First come the learners whose metric at the largest n the best
    learner's does not beat (the 95% interval of the ratio of their metrics there contains 1), then
    the others; within each, rank = the number of learners before the group + 1 + the number in the
    group that out-scale this one (the 95% interval of the difference of their exponents lies above 0).
    Without intervals (one seed) the point estimates order them."""
    fitted = [f for f in fits if f.law is not None]
    last = [f for f in fitted if np.isfinite(f.curve.mean()[-1])]
    best = min(last, key=lambda f: f.curve.mean()[-1], default=None)
    front = {id(f) for f in last if f is best or not _lower_at_largest_n(best, f, left_out)}
    groups = [[f for f in fitted if id(f) in front], [f for f in fitted if id(f) not in front]]
    ranked, before = [], 0
    for group in groups:
        for fit in group:
            above = sum(1 for other in group if other is not fit and _out_scales(other, fit, refits, left_out))
            ranked.append(dataclasses.replace(fit, rank=before + 1 + above, in_front=id(fit) in front))
        before += len(group)
    ranked += [fit for fit in fits if fit.law is None]
    return sorted(ranked, key=lambda f: (f.rank is None, f.rank or 0, -(f.alpha or 0.0)))


def _lower_at_largest_n(ahead: LearnerFit, behind: LearnerFit, left_out: LeftOut) -> bool:
    """Whether `ahead`'s metric at the largest n is lower than `behind`'s, its paired 95% interval of
    the ratio behind / ahead lying above 1 (without an interval: whether it is lower at all)."""
    ratio = float(behind.curve.mean()[-1] / ahead.curve.mean()[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        left = [None if top is None else top[:, -1] / bottom[:, -1]
                for top, bottom in zip(left_out.means(behind.curve.learner_id), left_out.means(ahead.curve.learner_id), strict=True)]
    interval = left_out.positive_interval(ratio, *left)
    return interval.low > 1 if interval is not None else ratio > 1


def _out_scales(one: LearnerFit, other: LearnerFit, refits: dict[str, tuple[np.ndarray | None, np.ndarray | None]],
                left_out: LeftOut) -> bool:
    """Whether `one`'s exponent exceeds `other`'s, the paired 95% interval of the difference lying
    above 0 (without an interval: whether it is larger at all)."""
    delta = one.alpha - other.alpha
    ours, theirs = refits.get(one.curve.learner_id, (None, None)), refits.get(other.curve.learner_id, (None, None))
    spread = left_out.spread(*(None if a is None or b is None else a - b for a, b in zip(ours, theirs, strict=True)))
    return spread.interval(delta).low > 0 if spread is not None else delta > 0


def _compare_pair(
    reference: LearnerFit,
    other: LearnerFit,
    refits: dict[str, tuple[np.ndarray | None, np.ndarray | None]],
    left_out: LeftOut,
    margin: float,
) -> Comparison:
    delta = reference.alpha - other.alpha
    both = reference.curve.usable() & other.curve.usable()
    last = int(np.flatnonzero(both)[-1]) if both.any() else len(both) - 1
    ratio = float(reference.curve.mean()[last] / other.curve.mean()[last])
    ours, theirs = refits[reference.curve.learner_id], refits[other.curve.learner_id]
    deltas = [None if a is None or b is None else a - b for a, b in zip(ours, theirs, strict=True)]
    delta_spread = left_out.spread(*deltas)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = [
            None if top is None else top[:, last] / bottom[:, last]
            for top, bottom in zip(left_out.means(reference.curve.learner_id), left_out.means(other.curve.learner_id), strict=True)
        ]
    ratio_interval = left_out.positive_interval(ratio, *ratios)
    one_seed = left_out.seed_count < 2 and delta_spread is None
    model = reference.model
    held_out = None
    if reference.held_out is not None and other.held_out is not None:
        held_out = reference.held_out[model] + other.held_out[model]
    return Comparison(
        other.curve.learner_id, delta, None if delta_spread is None else delta_spread.interval(delta),
        int(other.curve.n_values[last]), ratio, ratio_interval,
        "one seed: no verdict" if one_seed else verdict(delta, delta_spread, margin),
        delta_spread, margin, held_out,
        (reference.law.floor, other.law.floor) if model == "saturating" else None,
        float(reference.curve.mean()[last]), model,
    )

"""What a pilot says about other designs: the spread of Δα a pair of learners would have with other
seeds, test-set sizes and training-set sizes.

The pilot's own interval is measured (`Spread`); another design scales its two parts. The seeds'
part is the variance of a mean over S seeds and the test set's of a mean over n_test examples,
so they scale as 1/S and 1/n_test exactly. How they depend on the sizes fitted is modelled. Δα
moves with D(n) = log m_reference(n) − log m_learner(n) through the fitted law's linearisation
(`exponent_coefficients`: for the power law, the least-squares slope), and D deviates by a random
slope in log n (the same at every n: more sizes do not average it away) plus noise at each size
(which more sizes and a wider range of log n do). The noise of the test set's part at one size
grows as the error falls, as a binomial's relative variance (1 − p) / p (for `test_error`;
constant for a loss). Both components are fitted, by non-negative least squares, to the
jackknife covariance of D across the pilot's sizes; a design's spread is the pilot's, times the
ratio of the model's variance of the exponent at the design's sizes to that at the pilot's, the
learners' fitted laws extended to the design's sizes.

`tests/test_power.py` checks the projections against simulated studies at the projected design.

From the projections, the final study is chosen (`designs_at`, `chosen_design`): the cheapest
design whose expected interval at the pilot's Δα decides every pair, run on seeds apart from the
pilot's (`fresh_seeds`). `tests/test_procedure.py` simulates the whole procedure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import scipy.optimize

from ._compare import Curve, SpecComparison, _left_out
from ._intervals import DECISIVE, EQUIVALENCE_LEVEL, Spread, Verdict, verdict
from ._laws import Model, ScalingLaw, fit_law

PROBABILITY_CLIP = 1e-6
FLOOR_AT_BOUND = 1e-6
"""A saturating fit whose floor is below this fraction of its smallest metric is a power law."""


def exponent_coefficients(law: ScalingLaw, n_values: np.ndarray) -> np.ndarray:
    """How the fitted α of `law`'s model moves with the log-metric at each size (the least-squares
    fit linearised at `law`): α changes by `coefficients · d log(metric)`. For the power law,
    −(log n − mean) / Σ(log n − mean)²; for the saturating law, from the Jacobian of
    log(a n^-α + c), or the power law's when the floor sits at 0, its bound."""
    log_n = np.log(n_values)
    centred = log_n - log_n.mean()
    if law.model == "power_law" or law.floor <= FLOOR_AT_BOUND * law.predict(n_values).min():
        return -centred / np.sum(centred**2)
    power = law.prefactor * n_values**-law.alpha
    total = power + law.floor
    jacobian = np.stack([power / total, -log_n * power / total, 1.0 / total], axis=1)
    return np.linalg.pinv(jacobian)[1]


@dataclasses.dataclass(frozen=True)
class SizeModel:
    """One part of Var(D(n)) across sizes: a random slope in log n (`slope_variance`) and
    independent noise at each size (`noise_variance` times the size's weight)."""

    slope_variance: float
    noise_variance: float

    def exponent_variance(self, log_n: np.ndarray, coefficients: np.ndarray, weights: np.ndarray) -> float:
        """The variance of a fitted exponent whose coefficients on D are `coefficients`."""
        centred = log_n - log_n.mean()
        return self.slope_variance * float(coefficients @ centred) ** 2 + self.noise_variance * float(np.sum(coefficients**2 * weights))


def _covariance(left_out: np.ndarray) -> np.ndarray:
    """The jackknife covariance across sizes from leave-one-out values `(count, sizes)`."""
    count = len(left_out)
    deviations = left_out - left_out.mean(axis=0)
    return (count - 1) / count * deviations.T @ deviations


def _fit_size_model(covariance: np.ndarray, log_n: np.ndarray, weights: np.ndarray) -> SizeModel | None:
    """Level, random-slope and noise variances fitted to the covariance's entries (None when all are 0)."""
    centred = log_n - log_n.mean()
    rows, cols = np.triu_indices(len(log_n))
    design = np.stack([np.ones(len(rows)), centred[rows] * centred[cols], (rows == cols) * weights[rows]], axis=1)
    scale = np.abs(covariance).max()
    if not np.isfinite(scale) or scale == 0:
        return None
    solution, _ = scipy.optimize.nnls(design, covariance[rows, cols] / scale)
    _, slope, noise = solution * scale
    return SizeModel(float(slope), float(noise)) if slope + noise > 0 else None


@dataclasses.dataclass(frozen=True)
class Projection:
    """A pair of learners in a pilot: its Δα, its measured spread, and what it would be in other designs."""

    learner_id: str
    delta_alpha: float
    spread: Spread
    n_values: np.ndarray
    """The pilot's sizes behind `spread`."""
    seed_model: SizeModel | None
    test_model: SizeModel | None
    laws: tuple[ScalingLaw, ScalingLaw]
    """The two learners' fitted laws (of the comparison's model)."""
    binomial: bool
    """Whether the metric is an error rate, whose test-set noise at a size is binomial."""

    def _weights(self, n_values: np.ndarray, part: str) -> np.ndarray:
        if part == "seed" or not self.binomial:
            return np.ones(len(n_values))
        probability = [np.clip(law.predict(n_values), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP) for law in self.laws]
        return np.mean([(1 - p) / p for p in probability], axis=0)

    def _variance(self, model: SizeModel, n_values: np.ndarray, part: str) -> float:
        coefficients = np.mean([exponent_coefficients(law, n_values) for law in self.laws], axis=0)
        return model.exponent_variance(np.log(n_values), coefficients, self._weights(n_values, part))

    def _size_ratio(self, model: SizeModel | None, n_values: np.ndarray, part: str) -> float:
        if model is None:
            return 1.0
        return self._variance(model, n_values, part) / self._variance(model, self.n_values, part)

    def size_ratios(self, n_values: np.ndarray) -> tuple[float, float]:
        """How much fitting `n_values` instead of the pilot's sizes scales the seeds' and the test
        set's part of the variance (`spread_scaled` applies them)."""
        n_values = np.asarray(n_values, dtype=np.float64)
        return self._size_ratio(self.seed_model, n_values, "seed"), self._size_ratio(self.test_model, n_values, "test")

    def spread_scaled(self, ratios: tuple[float, float], seeds: int, n_test: int | None) -> Spread:
        """The spread expected with `seeds` seeds and `n_test` test examples at sizes whose `size_ratios` are `ratios`."""
        scaled = self.spread.at(seeds, n_test)
        seed = None if scaled.seed_variance is None else scaled.seed_variance * ratios[0]
        test = None if scaled.test_variance is None else scaled.test_variance * ratios[1]
        return dataclasses.replace(scaled, seed_variance=seed, test_variance=test)

    def spread_at(self, n_values: np.ndarray, seeds: int, n_test: int | None) -> Spread:
        """The spread expected for a design fitting `n_values` with `seeds` seeds and `n_test` test examples."""
        return self.spread_scaled(self.size_ratios(n_values), seeds, n_test)


def project(curves: list[Curve], reference: str, learner_id: str, spread: Spread, delta_alpha: float, metric: str,
            model: Model = "power_law", one_seed: str = "no_interval") -> Projection:
    """The projection of one pair of a pilot's (windowed) curves, whose comparison under `model` gave
    `delta_alpha` and `spread`."""
    pair = [next(c for c in curves if c.learner_id == name) for name in (reference, learner_id)]
    usable = pair[0].usable() & pair[1].usable()
    n_values = pair[0].n_values[usable].astype(np.float64)
    log_n = np.log(n_values)
    laws = tuple(fit_law(model, n_values, curve.mean()[usable]) for curve in pair)
    projection = Projection(learner_id, delta_alpha, spread, n_values, None, None, laws, metric == "test_error")
    left_out = _left_out(pair, one_seed)
    models = []
    for part, name in ((0, "seed"), (1, "test")):
        reference_means, learner_means = left_out.means(reference)[part], left_out.means(learner_id)[part]
        if reference_means is None:
            models.append(None)
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            differences = np.log(reference_means[:, usable]) - np.log(learner_means[:, usable])
        if not np.all(np.isfinite(differences)):
            models.append(None)
            continue
        models.append(_fit_size_model(_covariance(differences), log_n, projection._weights(n_values, name)))
    return dataclasses.replace(projection, seed_model=models[0], test_model=models[1])


# --- choosing the final study from a pilot ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pair:
    """One compared pair of a pilot: (width, learner id) against the reference."""

    width: int | None
    learner_id: str
    projection: Projection

    @property
    def label(self) -> str:
        return self.learner_id + (f" (width {self.width})" if self.width is not None else "")


def pairs_of(comparison: SpecComparison, metric: str, one_seed: str = "no_interval", width: int | None = None) -> list[Pair]:
    """The pairs of a pilot's comparison (over its fit window) that have an interval, with their projections."""
    windowed = [fit.curve for fit in comparison.fits]
    return [
        Pair(width, compared.learner_id, project(windowed, comparison.reference, compared.learner_id, compared.delta_spread,
                                                  compared.delta_alpha, metric, comparison.model, one_seed))
        for compared in comparison.comparisons if compared.delta_spread is not None
    ]


@dataclasses.dataclass(frozen=True)
class Design:
    """A final study: how many seeds, test examples and which sizes, what it would cost, and the
    Δα half-width each pair would have."""

    seeds: int
    n_test: int
    n_train: tuple[int, ...]
    seconds: float | None
    """Planned compute (None: a learner gives no estimate)."""
    half_widths: dict[str, float]
    """Per pair (its label): the expected 95% half-width of Δα."""
    deciding: dict[str, bool]
    expected: dict[str, Verdict] = dataclasses.field(default_factory=dict)
    """Per pair: the verdict its expected interval at the pilot's Δα gives."""
    half_widths90: dict[str, float] = dataclasses.field(default_factory=dict)
    """Per pair: the expected 90% half-width of Δα (the interval that decides equivalence)."""

    @property
    def decides(self) -> bool:
        return all(self.deciding.values())

    def decisive_half_width(self, label: str) -> str:
        """The pair's expected half-width at the level of the decision it expects: "0.044 (90%)" for
        equivalence, "0.053 (95%)" for separation, both when it expects none."""
        return half_width_text(self.expected[label], self.half_widths[label], self.half_widths90[label])


def designs_at(pairs: list[Pair], margin: float, n_train: tuple[int, ...], window: np.ndarray,
               candidates: Iterable[tuple[int, int, float | None]]) -> list[Design]:
    """The designs on the sizes `n_train` (fitted over `window`, those in the fit window), one per
    candidate `(seeds, n_test, planned seconds)`: each pair's expected half-width, and whether its
    expected interval at the pilot's Δα would decide at ±margin."""
    ratios = {pair.label: pair.projection.size_ratios(window) for pair in pairs}
    designs = []
    for seeds, n_test, seconds in candidates:
        half_widths, half_widths90, deciding, expected = {}, {}, {}, {}
        for pair in pairs:
            spread = pair.projection.spread_scaled(ratios[pair.label], seeds, n_test)
            half_widths[pair.label] = spread.half_width()
            half_widths90[pair.label] = spread.half_width(EQUIVALENCE_LEVEL)
            expected[pair.label] = verdict(pair.projection.delta_alpha, spread, margin)
            deciding[pair.label] = expected[pair.label] in DECISIVE
        designs.append(Design(seeds, n_test, n_train, seconds, half_widths, deciding, expected, half_widths90))
    return designs


def half_width_text(expected: Verdict, half_width: float, half_width90: float) -> str:
    """A half-width at the level of the decision `expected`: the 90% interval's for "equivalent", the
    95% interval's for a separation, both (labelled) for neither."""
    if expected == "equivalent":
        return f"{half_width90:.3f} (90%)"
    if expected in DECISIVE:
        return f"{half_width:.3f} (95%)"
    return f"{half_width:.3f} (95%) / {half_width90:.3f} (90%)"


def cheapest(designs: list[Design], label: str | None = None) -> Design | None:
    """The design of least planned time that decides every pair (or the pair `label`)."""
    deciding = [d for d in designs if d.seconds is not None and (d.decides if label is None else d.deciding[label])]
    return min(deciding, key=lambda d: (d.seconds, d.seeds, d.n_test, d.n_train[-1]), default=None)


def narrowest(designs: list[Design]) -> Design:
    """The design whose widest pair is narrowest (what to run when none decides)."""
    return min(designs, key=lambda d: (max(d.half_widths.values()), d.seconds or 0.0))


def chosen_design(designs: list[Design]) -> Design:
    """What the plan recommends: the cheapest design that decides every pair, else the narrowest."""
    return cheapest(designs) or narrowest(designs)


def fresh_seeds(pilot_seeds: list[int] | tuple[int, ...], count: int) -> list[int]:
    """The final study's seeds: `count` integers after the pilot's largest seed.

    The design is chosen from the pilot's Δα; a final analysis that reused the pilot's seeds would
    let that choice lean on its own verdict (`docs/concepts/pilot-procedure.md` measures how much: about twice the
    nominal rate of false separations). Seeds apart from the pilot's keep the verdict's level."""
    start = max(pilot_seeds) + 1
    return list(range(start, start + count))

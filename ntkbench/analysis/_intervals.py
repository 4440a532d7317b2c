"""Intervals of an estimate and the verdict one interval of Δα gives.

A verdict is one of three answers, or says why there is none:

- *separated* ("network scales better", "kernel scales better"): the 95% interval of Δα excludes 0;
- *equivalent* (within ±margin): the 90% interval of Δα lies inside (−margin, +margin): two
  one-sided tests at 5%, so that a true |Δα| of the margin is declared equivalent in at most 5%
  of studies;
- *inconclusive*: neither; `decide` (in `_verdicts`) says what design would decide.

Equivalence is judged first: a difference that the interval makes clear but that lies inside the
margin is "equivalent", with the difference reported beside it.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

import numpy as np
import scipy.stats

from ..spec import DEFAULT_MARGIN

LEVEL = 0.95
"""The level of every reported interval."""
EQUIVALENCE_LEVEL = 0.90
"""The level of the interval that must lie inside ±margin for "equivalent" (two one-sided tests at 5%)."""

Verdict = Literal[
    "network scales better", "kernel scales better", "equivalent", "inconclusive", "depends on the fit",
    "one seed: no verdict", "no interval",
]
SEPARATED: tuple[Verdict, ...] = ("network scales better", "kernel scales better")
DECISIVE: tuple[Verdict, ...] = (*SEPARATED, "equivalent")


@dataclasses.dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def beyond(self, margin: float) -> bool:
        """Whether the interval lies entirely outside ±margin (a difference larger than the margin)."""
        return self.low > margin or self.high < -margin


@functools.lru_cache(maxsize=1024)
def t_quantile(probability: float, freedom: int) -> float:
    """Student's t quantile, kept: a sizing asks for the same few thousands of times."""
    return float(scipy.stats.t.ppf(probability, freedom))


@dataclasses.dataclass(frozen=True)
class Spread:
    """The sampling variance of an estimate in its two parts, as the jackknife measured them, and
    what they become in another design: the seeds' part shrinks as 1/S (it is the variance of a
    mean over S seeds) and the test set's as 1/n_test (of a mean over n_test examples).

    A part is None when the interval leaves it out (one seed; records without per-example outcomes).
    """

    seed_variance: float | None
    test_variance: float | None
    seeds: int
    n_test: int | None
    """Test examples behind `test_variance` (None without it)."""
    test_groups: int = 0

    @property
    def freedom(self) -> int:
        """Degrees of freedom of the t quantile: the smaller part's (S − 1 or groups − 1)."""
        parts = [
            count - 1
            for variance, count in ((self.seed_variance, self.seeds), (self.test_variance, self.test_groups))
            if variance is not None
        ]
        return min(parts)

    @property
    def variance(self) -> float:
        return (self.seed_variance or 0.0) + (self.test_variance or 0.0)

    def half_width(self, level: float = LEVEL) -> float:
        return t_quantile(0.5 + level / 2, self.freedom) * float(np.sqrt(self.variance))

    def interval(self, estimate: float, level: float = LEVEL) -> Interval:
        half = self.half_width(level)
        return Interval(estimate - half, estimate + half)

    def at(self, seeds: int, n_test: int | None = None) -> Spread:
        """The spread expected with `seeds` seeds and `n_test` test examples (None: as measured)."""
        seed = None if self.seed_variance is None else self.seed_variance * self.seeds / seeds
        test, examples = self.test_variance, self.n_test
        if test is not None and n_test is not None:
            test, examples = test * self.n_test / n_test, n_test
        return Spread(seed, test, seeds, examples, self.test_groups)


def verdict(delta: float, spread: Spread | None, margin: float = DEFAULT_MARGIN) -> Verdict:
    """What one interval of Δα = α(reference) − α(learner) says: "equivalent" when its 90% interval
    lies inside ±margin, else separated when its 95% interval excludes 0, else "inconclusive"."""
    if spread is None:
        return "no interval"
    if abs(delta) + spread.half_width(EQUIVALENCE_LEVEL) < margin:
        return "equivalent"
    interval = spread.interval(delta)
    if interval.low > 0:
        return "network scales better"
    if interval.high < 0:
        return "kernel scales better"
    return "inconclusive"

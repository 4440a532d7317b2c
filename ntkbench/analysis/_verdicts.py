"""The leaderboard's verdict on a learner against the reference: the spec's own law and metric,
checked against the other laws and metrics, and for an inconclusive one the design that would decide.

The spec's own law and metric give the verdict (`verdict`). Another fit (law, metric) overrules a
separated verdict, making it "depends on the fit", only when it is itself separated with the other
sign, or when it gives Δα the other sign and predicts the held-out largest sizes at least as well
(its law's held-out error, summed over the two learners, is at most the spec's). An "equivalent"
verdict is overruled by a fit whose interval lies entirely outside ±margin. Every other
disagreement is a caveat beside the verdict: a fit whose own interval is uninformative, or that
describes the data worse, does not veto a clear result. Under the saturating law the floors are
part of the comparison: a learner that approaches a higher floor more steeply does not scale
better, so such a fit disagrees with nobody; it is a caveat.

`tests/test_verdicts.py` justifies the rule in simulated sweeps: with a true gap, at most 5% of
verdicts are a false "depends on the fit"; without one, "scales better" is no more frequent than
under the rule that vetoed on any disagreement in sign.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from ._compare import Comparison
from ._intervals import DECISIVE, SEPARATED, Interval, Spread, Verdict, verdict
from ._power import Projection

FLOOR_TOLERANCE = 0.05
"""Two floors of the saturating law differ when they are further apart than this fraction of the
reference's metric at the largest n."""
MAX_SEEDS = 100
"""`WouldDecide` looks for designs of at most this many seeds."""
LARGER_TEST = 4
"""`WouldDecide`'s other design has a test set this many times the current one."""

FitKey = tuple[str, str]
"""(law, metric) of one fit of a spec's records."""


WIDER_STEPS = 3
"""`WouldDecide` also tries the sizes extended by up to this many steps of their ladder (n up to 8
times the largest, for sizes that double)."""
WORSE_BY = 10.0
"""A fit whose law predicts the held-out largest sizes this many times worse than another law's is
named in the verdict's own line."""


@dataclasses.dataclass(frozen=True)
class WouldDecide:
    """The designs whose expected interval, at the observed Δα, would decide (exclude 0 or lie inside
    ±margin): the fewest seeds at the current sizes and test-set size; the fewest with a test set
    `LARGER_TEST` times larger and with the sizes extended to `n_max` (each given when it needs
    fewer seeds than the current design). None: not within `MAX_SEEDS`."""

    seeds: int | None
    n_test: int | None = None
    seeds_with_n_test: int | None = None
    n_max: int | None = None
    seeds_with_n_max: int | None = None
    searched_n_max: int | None = None
    """The largest n tried (None: the sizes were not varied)."""

    def text(self, margin: float) -> str:
        others = []
        if self.seeds_with_n_test:
            others.append(f"{self.seeds_with_n_test} seeds and n_test {self.n_test}")
        if self.seeds_with_n_max:
            others.append(f"{self.seeds_with_n_max} seeds with n up to {self.n_max}")
        alternatives = " or ".join(others)
        if self.seeds is not None:
            return f"about {self.seeds} seeds{f' (or {alternatives})' if alternatives else ''} would decide at ±{margin:g}"
        if alternatives:
            return f"about {alternatives} would decide at ±{margin:g} (seeds alone: more than {MAX_SEEDS})"
        sizes = f", n up to {self.searched_n_max}" if self.searched_n_max else ""
        return (f"no design of up to {MAX_SEEDS} seeds{sizes} or a test set {LARGER_TEST} times larger would decide at "
                f"±{margin:g}: the spread between seeds is too large for the margin")


@dataclasses.dataclass(frozen=True)
class Decision:
    """A learner's verdict against the reference, with what is reported beside it."""

    verdict: Verdict
    margin: float
    caveats: tuple[str, ...] = ()
    """Disagreements of other fits that do not overrule the verdict; for "depends on the fit", the fit
    that overruled."""
    would_decide: WouldDecide | None = None
    """For "inconclusive": the designs that would decide."""
    law_note: str | None = None
    """When another law predicts the held-out largest sizes `WORSE_BY` times better than the spec's
    law: which, and by how much (shown in the verdict's line)."""
    chosen: Comparison | None = None
    """The spec's own fit, whose intervals gave the verdict."""
    fit: FitKey | None = None
    """The spec's own law and metric (named when another fit overrules it)."""

    @property
    def difference_inside_margin(self) -> bool:
        """Equivalent within the margin, and yet the 95% interval excludes 0: a difference smaller
        than the margin."""
        interval = self.chosen.delta_interval if self.chosen is not None else None
        return self.verdict == "equivalent" and interval is not None and interval.excludes_zero()

    def relation(self, reference: str) -> str:
        """What the verdict says of the two learners, without the rule behind it: "`network` improves
        faster with n", "the same rate within ±0.05", "`ntk_infinite` improves faster with n, by less
        than 0.05", "cannot tell yet", "depends on the fit"."""
        margin = f"{self.margin:g}"
        if self.verdict in SEPARATED or self.difference_inside_margin:
            faster = reference if self.chosen.delta_alpha > 0 else self.chosen.learner_id
            if self.verdict == "equivalent":
                return f"`{faster}` improves faster with n, by less than {margin}"
            beyond = self.chosen is not None and self.chosen.delta_interval.beyond(self.margin)
            return f"`{faster}` improves faster with n" + (f", by more than {margin}" if beyond else "")
        if self.verdict == "equivalent":
            return f"the same rate within ±{margin}"
        if self.verdict == "inconclusive":
            return "cannot tell yet"
        return self.verdict

    def rule(self) -> str:
        """Which interval gave the verdict, as the verdict's words state it."""
        margin = f"±{self.margin:g}"
        if self.verdict in SEPARATED:
            beyond = self.chosen is not None and self.chosen.delta_interval.beyond(self.margin)
            return f"95% CI beyond {margin}" if beyond else "95% CI excludes 0"
        if self.verdict == "equivalent":
            return f"90% CI inside {margin}" + ("; 95% CI excludes 0" if self.difference_inside_margin else "")
        if self.verdict == "inconclusive":
            return f"95% CI contains 0; 90% CI crosses {margin}"
        return ""

    def words(self, reference: str, *, law_note: bool = True) -> str:
        """The verdict in the words every view gives it (leaderboard, terminal, `Results.fits`,
        trackers): the relation, the interval rule that decided it, what would decide an inconclusive
        one, the fit that overruled a "depends on the fit", and (with `law_note`) the note on a
        worse-fitting law."""
        text = self.relation(reference)
        rule = self.rule()
        if rule:
            text += f" ({rule})"
        if self.verdict == "inconclusive" and self.would_decide is not None:
            text += f": {self.would_decide.text(self.margin)}"
        if self.verdict == "depends on the fit" and self.caveats:
            own = ""
            if self.chosen is not None and self.fit is not None:
                alone = Decision(self.chosen.verdict, self.margin, chosen=self.chosen)
                own = f"{fit_label(self.fit)} (the spec's): {alone.relation(reference)}; "
            text += ": " + own + "; ".join(self.caveats)
        return f"{text}; {self.law_note}" if law_note and self.law_note else text

    def beside(self) -> tuple[str, ...]:
        """What is reported beside the words: the caveats the words do not already state."""
        return () if self.verdict == "depends on the fit" else self.caveats


def fit_label(key: FitKey) -> str:
    """A fit as every view names it: "power law, test_loss"."""
    law, metric = key
    return f"{law.replace('_', ' ')}, {metric}"


def interval_text(interval: Interval | None, level: str) -> str:
    """An interval of Δα labelled with its level: "95% CI [−0.017, +0.056]" ("" without one)."""
    return "" if interval is None else f"{level} CI [{interval.low:+.3f}, {interval.high:+.3f}]"


def delta_text(comparison: Comparison, *, equivalence: bool = True) -> str:
    """Δα with its intervals, each labelled: the 95% (separation) and, with `equivalence`, the 90%
    (equivalence): "Δα = +0.020, 95% CI [−0.017, +0.056], 90% CI [−0.010, +0.050]"."""
    parts = [f"Δα = {comparison.delta_alpha:+.3f}", interval_text(comparison.delta_interval, "95%")]
    if equivalence:
        parts.append(interval_text(comparison.equivalence_interval, "90%"))
    return ", ".join(part for part in parts if part)


def _steeper_towards_higher_floor(comparison: Comparison) -> bool:
    """Under the saturating law: whether the learner with the larger α has the higher floor, by more
    than `FLOOR_TOLERANCE` of the reference's metric at the largest n."""
    if comparison.floors is None:
        return False
    reference_floor, learner_floor = comparison.floors
    return float(np.sign(comparison.delta_alpha)) * (learner_floor - reference_floor) < -FLOOR_TOLERANCE * comparison.scale


def _floors_text(comparison: Comparison) -> str:
    reference_floor, learner_floor = comparison.floors
    return f"but the steeper one approaches a higher floor (c = {reference_floor:.4g} against {learner_floor:.4g})"


def decide(
    chosen: Comparison, others: Mapping[FitKey, Comparison], projection: Projection | None = None, fit: FitKey | None = None
) -> Decision:
    """The verdict of `chosen` (the spec's own law and metric, `fit`) weighed against `others` (the
    same learner under every other law and metric), as the module docstring says, with a note when
    another law predicts the held-out largest sizes far better. `projection` (of the chosen pair)
    lets an inconclusive verdict's advice try wider ranges of n too."""
    decided = _decided(chosen, others, projection)
    return dataclasses.replace(decided, law_note=_law_note(chosen, others), chosen=chosen, fit=fit)


def _law_note(chosen: Comparison, others: Mapping[FitKey, Comparison]) -> str | None:
    """Which other law predicts the held-out largest sizes `WORSE_BY` times better than the chosen one."""
    if chosen.held_out is None:
        return None
    better = [(other.held_out, key) for key, other in others.items()
              if key[0] != chosen.model and other.held_out is not None and other.held_out * WORSE_BY < chosen.held_out]
    if not better:
        return None
    held_out, (law, metric) = min(better)
    return (f"the {law.replace('_', ' ')} law predicts the held-out largest n {chosen.held_out / max(held_out, 1e-12):.0f} times "
            f"better on {metric} (held-out error {held_out:.3f} against {chosen.held_out:.3f}): this verdict rests on the "
            "worse-fitting law (`fit.model`)")


def _decided(chosen: Comparison, others: Mapping[FitKey, Comparison], projection: Projection | None) -> Decision:
    margin, own = chosen.margin, chosen.verdict
    if own in SEPARATED:
        return _separated(chosen, others)
    if own == "equivalent":
        caveats = []
        for key, other in others.items():
            if other.delta_interval is None:
                continue
            label = f"{fit_label(key)}: {delta_text(other, equivalence=False)}"
            if other.delta_interval.beyond(margin) and _steeper_towards_higher_floor(other):
                caveats.append(f"{label}, beyond ±{margin:g}, {_floors_text(other)}")
            elif other.delta_interval.beyond(margin):
                return Decision("depends on the fit", margin, (f"{label}, beyond ±{margin:g}",))
            elif other.delta_interval.excludes_zero():
                caveats.append(f"{label}: a clear difference, not beyond ±{margin:g}")
        return Decision("equivalent", margin, tuple(caveats))
    if own == "inconclusive":
        return Decision(own, margin, (), would_decide(chosen.delta_alpha, chosen.delta_spread, margin, projection))
    return Decision(own, margin)


def _separated(chosen: Comparison, others: Mapping[FitKey, Comparison]) -> Decision:
    margin, sign = chosen.margin, 1.0 if chosen.verdict == "network scales better" else -1.0
    caveats = []
    if _steeper_towards_higher_floor(chosen):
        caveats.append(f"saturating law: {_floors_text(chosen)}")
    for key, other in others.items():
        if np.sign(other.delta_alpha) != -sign:
            continue
        label = f"{fit_label(key)}: {delta_text(other, equivalence=False)}"
        if _steeper_towards_higher_floor(other):
            caveats.append(f"{label}, the other sign, {_floors_text(other)}")
        elif other.delta_interval is not None and other.delta_interval.excludes_zero():
            return Decision("depends on the fit", margin, (f"{label} separates them with the other sign",))
        elif chosen.held_out is not None and other.held_out is not None and other.held_out <= chosen.held_out:
            return Decision("depends on the fit", margin, (
                f"{label} has the other sign and predicts the largest n at least as well (held-out error "
                f"{other.held_out:.3f} against {chosen.held_out:.3f})",
            ))
        else:
            caveats.append(f"{label}, the other sign, not separated and predicting the largest n less well")
    return Decision(chosen.verdict, margin, tuple(caveats))


def would_decide(delta: float, spread: Spread | None, margin: float, projection: Projection | None = None) -> WouldDecide | None:
    """The designs whose expected interval around `delta` would decide at `margin` (see `WouldDecide`);
    with the pair's `projection`, the sizes extended by up to `WIDER_STEPS` steps of their ladder too.
    None without a spread."""
    if spread is None:
        return None
    seeds = None if spread.seed_variance is None else _fewest_seeds(delta, spread, margin, None, spread.seeds + 1)
    found = WouldDecide(seeds)
    if spread.test_variance is not None:
        larger = LARGER_TEST * spread.n_test
        with_larger = _fewest_seeds(delta, spread, margin, larger, spread.seeds)
        if with_larger is not None and (seeds is None or with_larger < seeds):
            found = dataclasses.replace(found, n_test=larger, seeds_with_n_test=with_larger)
    if projection is not None and len(projection.n_values) >= 2:
        sizes = projection.n_values
        ratio = sizes[-1] / sizes[-2]
        wider = [np.concatenate([sizes, sizes[-1] * ratio ** np.arange(1, steps + 1)]) for steps in range(1, WIDER_STEPS + 1)]
        found = dataclasses.replace(found, searched_n_max=int(round(wider[-1][-1])))
        for ladder in wider:
            scaled = projection.size_ratios(ladder)
            fewest = next((count for count in range(2, MAX_SEEDS + 1)
                           if verdict(delta, projection.spread_scaled(scaled, count, spread.n_test), margin) in DECISIVE), None)
            if fewest is not None and (seeds is None or fewest < seeds):
                return dataclasses.replace(found, n_max=int(round(ladder[-1])), seeds_with_n_max=fewest)
    return found


def _fewest_seeds(delta: float, spread: Spread, margin: float, n_test: int | None, start: int) -> int | None:
    for seeds in range(max(start, 2), MAX_SEEDS + 1):
        if verdict(delta, spread.at(seeds, n_test), margin) in DECISIVE:
            return seeds
    return None

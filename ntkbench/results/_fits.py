"""A spec's fitted exponents as one pandas DataFrame: a row per learner (per width of a width sweep)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..analysis import Interval, SpecSummary
from ._record_frames import import_pandas

if TYPE_CHECKING:
    import pandas


def _bounds(interval: Interval | None) -> tuple[float, float]:
    return (interval.low, interval.high) if interval is not None else (math.nan, math.nan)


def fits_frame(summary: SpecSummary) -> pandas.DataFrame:
    """Every learner's fit as the leaderboard shows it, one row per learner and width.

    Columns: `spec`, `width`, `learner_id`, `learner`, `law` (the spec's fitted law), `alpha` with
    `alpha_low`/`alpha_high` (95% interval; NaN without one), `prefactor`, `floor` (0 for the power
    law), `saturating_alpha` and `saturating_floor` (the saturating law's fit, whichever law the
    spec names), `rank`, `in_front`, `final_metric` (the seed mean at the largest n of the fit
    window) with its interval, `reference`, `delta_alpha` with `delta_low`/`delta_high` (the
    reference's α minus this learner's: positive when the reference improves faster with n; NaN
    for the reference itself), its 90% interval `delta_low90`/`delta_high90` and the two parts of
    its variance (`delta_seed_variance`, `delta_test_variance`), `margin` (`compare.margin`),
    `verdict` (weighed against every law and metric, as in the leaderboard: `network scales better`,
    `kernel scales better`, `equivalent` (within ±margin), `inconclusive`, `depends on the fit`, ...),
    `verdict_words` (the verdict as the leaderboard words it, with the interval rule that gave it),
    `caveats` (what the leaderboard reports beside the verdict, `; `-separated), for an
    inconclusive verdict `seeds_to_decide` (the seeds whose expected interval would decide, at this
    `n_test`), `larger_n_test` with `seeds_with_larger_n_test` (a larger test set that needs fewer
    seeds) and `wider_n_max` with `seeds_with_wider_n` (sizes extended up to that n, needing fewer
    seeds), and `reason` (why an exponent or interval is missing). An empty frame for a dynamics spec.
    """
    pandas = import_pandas()
    rows: list[dict[str, Any]] = []
    if summary.spec.get("dynamics"):
        return pandas.DataFrame(rows)
    for group in summary.groups:
        comparison = group.comparison
        against = {c.learner_id: c for c in comparison.comparisons}
        for fit in comparison.fits:
            learner_id = fit.curve.learner_id
            law, saturating = fit.law, fit.laws.get("saturating")
            mean = fit.curve.mean()
            final = float(mean[-1]) if len(mean) else math.nan
            other = against.get(learner_id)
            decision = group.decision(other) if other else None
            spread = other.delta_spread if other else None
            deciding = decision.would_decide if decision else None
            row = {
                "spec": summary.name,
                "width": group.width,
                "learner_id": learner_id,
                "learner": fit.curve.name,
                "metric": summary.spec["metric"],
                "law": comparison.model,
                "alpha": law.alpha if law else math.nan,
                "alpha_low": _bounds(fit.alpha_interval)[0],
                "alpha_high": _bounds(fit.alpha_interval)[1],
                "prefactor": law.prefactor if law else math.nan,
                "floor": law.floor if law else math.nan,
                "saturating_alpha": saturating.alpha if saturating else math.nan,
                "saturating_floor": saturating.floor if saturating else math.nan,
                "rank": fit.rank,
                "in_front": fit.in_front,
                "final_n": int(fit.curve.n_values[-1]) if len(fit.curve.n_values) else None,
                "final_metric": final,
                "final_low": _bounds(fit.final_error)[0],
                "final_high": _bounds(fit.final_error)[1],
                "reference": comparison.reference,
                "delta_alpha": other.delta_alpha if other else math.nan,
                "delta_low": _bounds(other.delta_interval if other else None)[0],
                "delta_high": _bounds(other.delta_interval if other else None)[1],
                "delta_low90": _bounds(other.equivalence_interval if other else None)[0],
                "delta_high90": _bounds(other.equivalence_interval if other else None)[1],
                "delta_seed_variance": _value(spread.seed_variance if spread else None),
                "delta_test_variance": _value(spread.test_variance if spread else None),
                "margin": comparison.margin,
                "verdict": decision.verdict if decision else ("reference" if learner_id == comparison.reference else None),
                "verdict_words": decision.words(comparison.reference) if decision else None,
                "caveats": "; ".join(decision.beside()) if decision else "",
                "seeds_to_decide": deciding.seeds if deciding else None,
                "larger_n_test": deciding.n_test if deciding else None,
                "seeds_with_larger_n_test": deciding.seeds_with_n_test if deciding else None,
                "wider_n_max": deciding.n_max if deciding else None,
                "seeds_with_wider_n": deciding.seeds_with_n_max if deciding else None,
                "reason": fit.reason,
            }
            rows.append(row)
    frame = pandas.DataFrame(rows)
    for column in ("seeds_to_decide", "larger_n_test", "seeds_with_larger_n_test", "wider_n_max", "seeds_with_wider_n"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    return frame


def _value(value: float | None) -> float:
    return math.nan if value is None else value

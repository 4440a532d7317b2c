"""Scaling-law fits and the joint comparison of learners: known laws recovered, intervals that
cover, ranks that respect the intervals, verdicts that follow Δα."""

from __future__ import annotations

import numpy as np
import pytest

from ntkbench import Curve, compare, fit_power_law, fit_saturating
from ntkbench.analysis._laws import held_out_errors

N = np.array([64, 128, 256, 512, 1024, 2048, 4096], dtype=float)


def law(alpha, a=2.0, c=0.0, n=N):
    return a * n**-alpha + c


def noisy_table(rng, alpha, seeds, sigma, c=0.0, a=2.0):
    return law(alpha, a, c)[None, :] * np.exp(rng.normal(0, sigma, size=(seeds, len(N))))


def test_exact_laws_are_recovered():
    alpha, prefactor = fit_power_law(N, 3.0 * N**-0.37)
    assert alpha == pytest.approx(0.37, abs=1e-12) and prefactor == pytest.approx(3.0, rel=1e-10)
    alpha, prefactor, floor = fit_saturating(N, law(0.6, 5.0, 0.08))
    assert alpha == pytest.approx(0.6, abs=1e-4) and floor == pytest.approx(0.08, abs=1e-5)
    assert fit_saturating(N, 3.0 * N**-0.37)[2] == pytest.approx(0.0, abs=1e-6)


def test_held_out_error_prefers_the_true_law():
    errors = held_out_errors(N, law(0.6, 5.0, 0.08))
    assert errors["saturating"] < 1e-3 < errors["power_law"]
    pure = held_out_errors(N, law(0.4))
    assert pure["power_law"] < 1e-9 and pure["saturating"] < 1e-4


def test_fewer_than_three_sizes_give_no_exponent():
    table = np.array([[0.5, 0.4, np.nan], [0.5, 0.4, np.nan]])
    (fit,) = compare([Curve("network", "network", N[:3], table)]).fits
    assert fit.law is None and "at least 3 are needed" in fit.reason


def test_missing_cells_and_zero_errors_are_left_out():
    table = np.tile(law(0.5)[None, :], (3, 1))
    table[0, 2] = np.nan  # one seed missing at one n: the other seeds still give the mean
    table[:, 6] = 0.0  # zero error at the largest n: no logarithm, left out
    (fit,) = compare([Curve("network", "network", N, table)]).fits
    assert fit.alpha == pytest.approx(0.5, abs=1e-9)
    assert fit.curve.usable().tolist() == [True] * 6 + [False]


def test_paired_intervals_separate_what_the_pairing_makes_clear():
    """Seed effects shared by two learners cancel in Δα but not in each α."""
    rng = np.random.default_rng(3)
    shared = rng.normal(0, 0.3, size=(5, 1)) * np.log(N / N[0])[None, :] / np.log(N[-1] / N[0])
    network = law(0.50)[None, :] * np.exp(shared + rng.normal(0, 0.005, size=(5, len(N))))
    kernel = law(0.46)[None, :] * np.exp(shared + rng.normal(0, 0.005, size=(5, len(N))))
    curves = [Curve("network", "network", N, network), Curve("ntk", "ntk_infinite", N, kernel)]
    result = compare(curves, margin=0.02)
    fits = {fit.curve.learner_id: fit for fit in result.fits}
    assert fits["network"].alpha_interval.overlaps(fits["ntk"].alpha_interval)  # each alone: not separated
    (delta,) = result.comparisons
    assert delta.delta_alpha == pytest.approx(0.04, abs=0.01)
    assert delta.delta_interval.low > 0 and delta.verdict == "network scales better"
    # Clear, but inside the default margin of 0.05: equivalent.
    assert compare(curves).comparisons[0].verdict == "equivalent"
    # Ranks follow the paired intervals too: the network out-scales the kernel, so it ranks ahead.
    assert [(fit.curve.learner_id, fit.rank) for fit in result.fits] == [("network", 1), ("ntk", 2)]
    assert [result.rank_label(fit) for fit in result.fits] == ["1", "2"]


def test_two_learners_that_two_seeds_cannot_order_share_a_rank_and_a_clear_error_gap_orders_them():
    """With two seeds each learner's interval is wide, but the learners share seeds and the test set:
    a 40% lower error at the largest n, the same in every seed, orders them; equal errors do not."""
    rng = np.random.default_rng(8)
    shared = np.exp(rng.normal(0, 0.2, size=(2, len(N))))  # seed effects both learners share
    ahead = Curve("network", "network", N, law(0.4)[None, :] * shared)
    behind = Curve("k", "ntk_infinite", N, 1.4 * law(0.4)[None, :] * shared * np.exp(rng.normal(0, 0.01, (2, len(N)))))
    level = Curve("k", "ntk_infinite", N, law(0.4)[None, :] * shared * np.exp(rng.normal(0, 0.01, (2, len(N)))))
    ordered = compare([ahead, behind])
    assert {fit.curve.learner_id: ordered.rank_label(fit) for fit in ordered.fits} == {"network": "1", "k": "2"}
    tied = compare([ahead, level])
    assert {fit.curve.learner_id: tied.rank_label(fit) for fit in tied.fits} == {"network": "=1", "k": "=1"}


def test_ranks_share_when_intervals_overlap():
    rng = np.random.default_rng(5)
    curves = [
        Curve("network", "network", N, noisy_table(rng, 0.60, 4, 0.01)),
        Curve("a", "entk_init", N, noisy_table(rng, 0.40, 4, 0.01)),
        Curve("b", "ntk_infinite", N, noisy_table(rng, 0.401, 4, 0.01)),
        Curve("c", "entk_pretrained", N, noisy_table(rng, 0.20, 4, 0.01)),
    ]
    result = compare(curves)
    ranks = {fit.curve.learner_id: fit.rank for fit in result.fits}
    assert ranks == {"network": 1, "a": 2, "b": 2, "c": 4}
    assert [fit.curve.learner_id for fit in result.fits][:1] == ["network"]
    verdicts = {c.learner_id: c.verdict for c in result.comparisons}
    assert verdicts == {"a": "network scales better", "b": "network scales better", "c": "network scales better"}
    ratio = {c.learner_id: c.error_ratio for c in result.comparisons}["c"]
    assert ratio == pytest.approx(law(0.6)[-1] / law(0.2)[-1], rel=0.05)


def test_one_seed_gives_no_verdict_unless_the_test_set_alone_is_asked_for():
    rng = np.random.default_rng(9)
    outcomes = (rng.random((1, len(N), 2000)) < law(0.3, a=1.5)[None, :, None]).astype(float)
    kernel = (rng.random((1, len(N), 2000)) < law(0.2, a=1.5)[None, :, None]).astype(float)
    curves = [Curve("network", "network", N, outcomes.mean(axis=-1), outcomes), Curve("k", "k", N, kernel.mean(axis=-1), kernel)]
    default = compare(curves)
    assert all(fit.alpha_interval is None and fit.alpha is not None for fit in default.fits)
    assert default.comparisons[0].verdict == "one seed: no verdict" and "no verdict" in default.resampling
    asked = compare(curves, one_seed="test_set")
    fit = next(fit for fit in asked.fits if fit.curve.learner_id == "network")
    assert "test set" in asked.resampling
    assert fit.alpha_interval.low < 0.3 < fit.alpha_interval.high
    assert asked.comparisons[0].verdict == "network scales better"
    without = compare([Curve("network", "network", N, outcomes.mean(axis=-1))], one_seed="test_set")
    assert without.fits[0].alpha_interval is None and "one seed" in without.fits[0].reason


def test_the_test_sets_sampling_error_widens_the_interval():
    """Seeds that agree perfectly still share one finite test set."""
    rng = np.random.default_rng(2)
    outcomes = (rng.random(500)[None, None, :] < np.tile(law(0.3, a=1.5)[None, :, None], (3, 1, 1))).astype(float)
    table = outcomes.mean(axis=-1)
    with_outcomes = compare([Curve("network", "network", N, table, outcomes)]).fits[0]
    seeds_only = compare([Curve("network", "network", N, table)]).fits[0]
    assert seeds_only.alpha_interval.half_width < 1e-9 < with_outcomes.alpha_interval.half_width


def test_auto_model_picks_the_saturating_law_for_saturating_data():
    rng = np.random.default_rng(1)
    curves = [Curve("network", "network", N, noisy_table(rng, 0.7, 4, 0.01, c=0.05, a=6.0))]
    assert compare(curves, "auto").model == "saturating"
    assert compare([Curve("network", "network", N, noisy_table(rng, 0.4, 4, 0.01))], "auto").model == "power_law"


def test_result_is_reproducible():
    rng = np.random.default_rng(4)
    curves = [Curve("network", "network", N, noisy_table(rng, 0.5, 3, 0.1))]
    assert compare(curves).fits[0].alpha_interval == compare(curves).fits[0].alpha_interval


def test_the_reference_is_chosen_by_learner_id():
    rng = np.random.default_rng(5)
    curves = [Curve(name, name, N, noisy_table(rng, alpha, 4, 0.01)) for name, alpha in (("a", 0.3), ("b", 0.5), ("network", 0.4))]
    against_b = compare(curves, reference="b")
    assert against_b.reference == "b" and {c.learner_id for c in against_b.comparisons} == {"a", "network"}
    assert all(c.delta_alpha > 0 for c in against_b.comparisons)  # b scales best
    assert compare(curves).reference == "network"
    assert compare(curves, reference="absent").comparisons == []


def test_auto_judges_the_laws_on_the_two_largest_sizes():
    from ntkbench.analysis._compare import choose_model

    saturating = np.tile(law(0.8, a=8.0, c=0.06)[None, :], (2, 1))
    assert held_out_errors(N, saturating[0], 2)["saturating"] < 1e-3 < held_out_errors(N, saturating[0], 2)["power_law"]
    assert choose_model([Curve("network", "network", N, saturating)], "auto") == "saturating"
    few = np.tile(law(0.8, a=8.0, c=0.06, n=N[:4])[None, :], (2, 1))  # 4 sizes: 2 held out leave 2, too few
    assert choose_model([Curve("network", "network", N[:4], few)], "auto") == "power_law"


def test_a_steep_learner_with_a_worse_error_does_not_rank_first():
    """Ranks by α are given first among the learners whose error at the largest n is within the
    best one's interval: a learner that improves fast but from far behind ranks after them."""
    rng = np.random.default_rng(6)
    curves = [
        Curve("network", "network", N, noisy_table(rng, 0.30, 4, 0.01)),
        Curve("steep", "random_features", N, noisy_table(rng, 0.50, 4, 0.01, a=20.0)),
        Curve("close", "ntk_infinite", N, noisy_table(rng, 0.301, 4, 0.01, a=2.01)),
    ]
    fits = {fit.curve.learner_id: fit for fit in compare(curves).fits}
    assert fits["steep"].alpha > fits["network"].alpha and fits["steep"].curve.mean()[-1] > 1.5 * fits["network"].curve.mean()[-1]
    assert fits["network"].in_front and fits["close"].in_front and not fits["steep"].in_front
    assert (fits["network"].rank, fits["close"].rank, fits["steep"].rank) == (1, 1, 3)


def scipy_saturating(n, metric, starts):
    """The saturating fit by scipy's bounded least squares at tight tolerances, from each start."""
    import scipy.optimize

    log_n, log_metric, c_max = np.log(n), np.log(metric), metric.min() * (1 - 1e-9)
    best = None
    for alpha, prefactor, floor in starts:
        result = scipy.optimize.least_squares(
            lambda theta: np.log(np.exp(theta[0] - theta[1] * log_n) + theta[2]) - log_metric,
            [np.log(prefactor), np.clip(alpha, 1e-6, 4 - 1e-6), np.clip(floor, 0, 0.999 * c_max)],
            bounds=([-np.inf, 0, 0], [np.inf, 4.0, c_max]), method="trf", ftol=1e-15, xtol=1e-15, gtol=1e-15,
        )
        best = result if best is None or result.cost < best.cost else best
    return best.x[1], best.cost


def test_the_batched_saturating_fit_is_scipys_bounded_least_squares():
    """Every curve's fit in one vectorised solve (`fit_saturating_many`), against scipy's `least_squares`
    at tight tolerances from the same starts: the same cost, and α within 1e-6, on noisy curves
    with and without a floor, with points left out, and from a given start as in resampling."""
    from ntkbench.analysis._laws import fit_saturating_many

    rng = np.random.default_rng(11)
    metrics = np.stack([law(alpha, 2.0, floor) * np.exp(rng.normal(0, 0.05, len(N)))
                        for alpha, floor in zip(rng.uniform(0.1, 1.0, 60), np.repeat([0.0, 0.02, 0.1], 20), strict=True)])
    usable = np.ones_like(metrics, dtype=bool)
    usable[::7, 3] = False  # a point missing from every seventh curve
    fitted = fit_saturating_many(N, metrics, usable)
    given = np.tile([0.5, 2.0, 0.01], (len(metrics), 1))
    from_start = fit_saturating_many(N, metrics, usable, given)
    for row, (metric, ok) in enumerate(zip(metrics, usable, strict=True)):
        n, m = N[ok], metric[ok]
        power_alpha, power_a = fit_power_law(n, m)
        alpha, cost = scipy_saturating(n, m, [(power_alpha, power_a, 0.0), (power_alpha, power_a, 0.5 * m.min())])
        ours = 0.5 * np.sum((np.log(fitted[row, 1] * n ** -fitted[row, 0] + fitted[row, 2]) - np.log(m)) ** 2)
        assert ours <= cost * (1 + 1e-9) + 1e-15 and fitted[row, 0] == pytest.approx(alpha, abs=1e-6)
        assert from_start[row, 0] == pytest.approx(scipy_saturating(n, m, [given[row]])[0], abs=1e-6)
        if fitted[row, 2] == 0.0:  # a floor at its bound is the power law itself
            assert (fitted[row, 0], fitted[row, 1]) == pytest.approx((power_alpha, power_a), rel=1e-12)
    assert 10 < (fitted[:, 2] == 0.0).sum() < 50  # both kinds of optimum were checked
    assert fit_saturating(N, metrics[5]) == pytest.approx(tuple(fitted[5]), rel=1e-12)  # one row of the batch


def test_a_tie_between_the_laws_goes_to_the_power_law():
    from ntkbench.analysis import better_law

    assert better_law({"power_law": 0.02, "saturating": 0.02 * (1 - 1e-10)}) == "power_law"
    assert better_law({"power_law": 0.02, "saturating": 0.019}) == "saturating"
    assert better_law({"power_law": 0.019, "saturating": 0.02}) == "power_law"


def test_intervals_of_positive_quantities_stay_positive():
    """Two noisy seeds: the intervals of the error ratio and of the error at the largest n are
    computed on the log scale, so they never reach below 0 (on the linear scale they would)."""
    rng = np.random.default_rng(12)
    network = law(0.3)[None, :] * np.exp(rng.normal(0, 0.6, size=(2, len(N))))
    kernel = law(0.3)[None, :] * np.exp(rng.normal(0, 0.6, size=(2, len(N))))
    result = compare([Curve("network", "network", N, network), Curve("k", "k", N, kernel)])
    (pair,) = result.comparisons
    assert 0 < pair.ratio_interval.low < pair.error_ratio < pair.ratio_interval.high
    assert pair.ratio_interval.high - pair.error_ratio > 3 * (pair.error_ratio - pair.ratio_interval.low) / 4  # skewed, as a ratio's is
    for fit in result.fits:
        assert 0 < fit.final_error.low < fit.curve.mean()[-1] < fit.final_error.high

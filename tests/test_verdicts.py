"""Verdicts that decide: equivalence within a margin, a robustness rule that does not veto clear
results, and what would decide an inconclusive comparison; the rules in isolation, then justified
in simulated sweeps with a known truth (`simulated.py`)."""

from __future__ import annotations

import numpy as np
import pytest
from simulated import simulated_sweep

from ntkbench import compare
from ntkbench.analysis import Comparison, Spread, decide, verdict, would_decide
from ntkbench.analysis._intervals import SEPARATED

SPEC_FIT = ("power_law", "test_error")


def spread_for(half_width: float, seeds: int = 4) -> Spread:
    """A seed-only spread whose 95% half-width is `half_width` at `seeds` seeds."""
    from scipy.stats import t

    return Spread((half_width / t.ppf(0.975, seeds - 1)) ** 2, None, seeds, None)


def comparison(delta: float, half_width: float, *, held_out: float | None = 0.1, floors=None, margin: float = 0.05) -> Comparison:
    spread = spread_for(half_width)
    return Comparison("k", delta, spread.interval(delta), 4096, 1.0, None, verdict(delta, spread, margin), spread, margin,
                      held_out, floors, 0.1)


def test_one_interval_gives_separated_equivalent_or_inconclusive():
    assert verdict(0.1, spread_for(0.05)) == "network scales better"
    assert verdict(-0.1, spread_for(0.05)) == "kernel scales better"
    assert verdict(0.0, spread_for(0.03)) == "equivalent"  # the 90% interval is inside ±0.05
    assert verdict(0.0, spread_for(0.07)) == "inconclusive"
    assert verdict(0.0, spread_for(0.07), margin=0.1) == "equivalent"
    assert verdict(0.02, spread_for(0.015)) == "equivalent"  # clear, but smaller than the margin
    assert verdict(0.0, None) == "no interval"


def test_the_margin_is_two_one_sided_tests_on_the_90_percent_interval():
    spread = spread_for(0.03)
    low, high = spread.interval(0.0, 0.90).low, spread.interval(0.0, 0.90).high
    assert high < 0.03 and -low < 0.03  # the 90% interval is narrower than the 95%
    edge = 0.05 - spread.half_width(0.90)
    assert verdict(edge - 1e-9, spread) == "equivalent" and verdict(edge + 1e-9, spread) != "equivalent"


def words_and_intervals(delta: float, half_width: float) -> tuple[str, str]:
    """The verdict's words of a comparison, and its Δα with both intervals as `delta_text` labels them."""
    from ntkbench.analysis._verdicts import delta_text

    chosen = comparison(delta, half_width)
    return decide(chosen, {}).words("network").replace("`", ""), delta_text(chosen)


def test_the_words_state_the_relation_the_intervals_show():
    """Each verdict's words match the intervals beside them: inside the margin and crossing 0, inside the
    margin and excluding 0, crossing the margin (undecided, and separated), beyond the margin."""
    words, intervals = words_and_intervals(0.004, 0.02)  # inside ±0.05, crossing 0
    assert words == "the same rate within ±0.05 (90% CI inside ±0.05)"
    assert intervals == "Δα = +0.004, 95% CI [-0.016, +0.024], 90% CI [-0.011, +0.019]"

    words, intervals = words_and_intervals(-0.030, 0.018)  # inside ±0.05, excluding 0: both are said
    assert words == "k improves faster with n, by less than 0.05 (90% CI inside ±0.05; 95% CI excludes 0)"
    assert intervals == "Δα = -0.030, 95% CI [-0.048, -0.012], 90% CI [-0.043, -0.017]"

    # The 95% interval crosses the margin, the 90% one that decides lies inside: the words name the 90%.
    words, intervals = words_and_intervals(0.020, 0.036)
    assert words == "the same rate within ±0.05 (90% CI inside ±0.05)"
    assert intervals == "Δα = +0.020, 95% CI [-0.016, +0.056], 90% CI [-0.007, +0.047]"

    words, intervals = words_and_intervals(0.020, 0.045)  # the 90% interval crosses the margin, the 95% 0
    assert words == "cannot tell yet (95% CI contains 0; 90% CI crosses ±0.05): about 5 seeds would decide at ±0.05"
    assert intervals == "Δα = +0.020, 95% CI [-0.025, +0.065], 90% CI [-0.013, +0.053]"

    words, _ = words_and_intervals(0.06, 0.05)  # excludes 0, the difference may be inside the margin
    assert words == "network improves faster with n (95% CI excludes 0)"
    words, _ = words_and_intervals(-0.2, 0.05)  # beyond the margin
    assert words == "k improves faster with n, by more than 0.05 (95% CI beyond ±0.05)"


def test_another_fit_overrules_a_separated_verdict_only_when_it_is_separated_or_predicts_as_well():
    chosen = comparison(0.1, 0.05, held_out=0.10)
    # The other sign, not separated, predicting the largest n worse: a caveat.
    kept = decide(chosen, {("saturating", "test_error"): comparison(-2.0, 6.0, held_out=0.2)})
    assert kept.verdict == "network scales better" and "the other sign" in kept.caveats[0]
    # The other sign and separated: overruled.
    assert decide(chosen, {("power_law", "test_loss"): comparison(-0.1, 0.05, held_out=0.5)}).verdict == "depends on the fit"
    # The other sign, not separated, but predicting the largest n at least as well: overruled.
    overruled = decide(chosen, {("saturating", "test_error"): comparison(-0.05, 0.3, held_out=0.10)})
    assert overruled.verdict == "depends on the fit" and "at least as well" in overruled.caveats[0]
    # The same sign: nothing to report.
    assert decide(chosen, {("saturating", "test_error"): comparison(0.2, 0.5)}).caveats == ()


def test_a_steeper_approach_to_a_higher_floor_is_no_disagreement():
    """Under the saturating law the kernel's steeper α towards three times the network's floor does
    not make it scale better: a caveat, never a veto."""
    chosen = comparison(0.4, 0.14, held_out=0.10)
    steeper_kernel = comparison(-2.1, 1.5, held_out=0.05, floors=(0.043, 0.13))
    decision = decide(chosen, {("saturating", "test_error"): steeper_kernel})
    assert decision.verdict == "network scales better" and "higher floor" in decision.caveats[0]
    # With equal floors the same fit does overrule (it predicts the largest n better).
    same_floors = comparison(-2.1, 1.5, held_out=0.05, floors=(0.1, 0.1))
    assert decide(chosen, {("saturating", "test_error"): same_floors}).verdict == "depends on the fit"


def test_equivalence_is_blocked_only_by_a_difference_beyond_the_margin():
    chosen = comparison(0.004, 0.02)
    small = decide(chosen, {("power_law", "test_loss"): comparison(-0.011, 0.01)})
    assert small.verdict == "equivalent" and "a clear difference, not beyond ±0.05" in small.caveats[0]
    assert small.caveats[0].startswith("power law, test_loss: Δα = -0.011, 95% CI [-0.021, -0.001]")
    assert decide(chosen, {("power_law", "test_loss"): comparison(-0.2, 0.05)}).verdict == "depends on the fit"
    assert decide(chosen, {("saturating", "test_error"): comparison(0.3, 2.0)}).caveats == ()


def test_inconclusive_says_how_many_seeds_would_decide():
    chosen = comparison(0.08, 0.1)  # 4 seeds: the interval includes 0
    decision = decide(chosen, {})
    assert decision.verdict == "inconclusive" and decision.would_decide.seeds > 4
    assert decision.words("network") == (f"cannot tell yet (95% CI contains 0; 90% CI crosses ±0.05): about "
                                         f"{decision.would_decide.seeds} seeds would decide at ±0.05")
    decided = chosen.delta_spread.at(decision.would_decide.seeds)
    assert verdict(0.08, decided) == "network scales better"
    assert verdict(0.08, chosen.delta_spread.at(decision.would_decide.seeds - 1)) == "inconclusive"


def test_a_larger_test_set_is_offered_when_it_saves_seeds():
    spread = Spread(0.0004, 0.0016, 3, 1000, 20)  # the test set's part dominates
    deciding = would_decide(0.0, spread, 0.05)
    assert deciding.n_test == 4000 and deciding.seeds_with_n_test < (deciding.seeds or 10**6)
    assert verdict(0.0, spread.at(deciding.seeds_with_n_test, 4000)) == "equivalent"
    assert "n_test 4000" in deciding.text(0.05)
    near = would_decide(0.05, Spread(0.0004, None, 3, None), 0.05)  # on the margin: only "separated" can decide
    assert verdict(0.05, Spread(0.0004, None, 3, None).at(near.seeds)) == "network scales better"


# --- in simulation ----------------------------------------------------------------------------------

SWEEPS = 150


def previous_rule(chosen: Comparison, others: dict) -> str:
    """The rule before this one: a separated verdict stood only if every other fit agreed in sign."""
    if chosen.verdict not in SEPARATED:
        return chosen.verdict
    agree = all(np.sign(other.delta_alpha) == np.sign(chosen.delta_alpha) for other in others.values())
    return chosen.verdict if agree else "depends on the fit"


def verdicts_in_simulation(seed: int, alphas: dict, **truth) -> tuple[dict[str, int], dict[str, int]]:
    """Counts of each verdict over `SWEEPS` sweeps under this rule and the previous one, the spec
    fitting the power law to the test error."""
    rng = np.random.default_rng(seed)
    now: dict[str, int] = {}
    before: dict[str, int] = {}
    for _ in range(SWEEPS):
        curves = simulated_sweep(rng, 4, "power_law", alphas, **truth)
        fits = {(law, metric): compare(curves[metric], law).comparisons[0] for law in ("power_law", "saturating") for metric in curves}
        chosen = fits.pop(SPEC_FIT)
        for counts, answer in ((now, decide(chosen, fits).verdict), (before, previous_rule(chosen, fits))):
            counts[answer] = counts.get(answer, 0) + 1
    return now, before


GAPS = {
    "power laws 0.45 and 0.30": ({"network": 0.45, "kernel": 0.30}, {}),
    # The kernel approaches a floor of 0.12 (2.5 times the network's error at n = 4096) steeply: the
    # saturating law gives it the larger α, and the rule before this one vetoed every clear result.
    "a kernel that plateaus": ({"network": 0.45, "kernel": 1.0}, {"prefactors": {"network": 2.0, "kernel": 20.0},
                                                                  "floors": {"network": 0.0, "kernel": 0.12}}),
}
NO_GAPS = {
    "equal power laws": ({"network": 0.4, "kernel": 0.4}, {}),
    "equal saturating laws": ({"network": 0.4, "kernel": 0.4}, {"floors": {"network": 0.04, "kernel": 0.04}}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(GAPS))
def test_with_a_true_gap_few_verdicts_are_a_false_depends_on_the_fit(case):
    alphas, truth = GAPS[case]
    now, before = verdicts_in_simulation(len(case), alphas, **truth)
    print(f"{case}: now {now}, before {before}")
    assert now.get("depends on the fit", 0) <= 0.05 * SWEEPS
    assert now.get("kernel scales better", 0) == 0 and now.get("network scales better", 0) >= 0.5 * SWEEPS


@pytest.mark.slow
@pytest.mark.parametrize("case", list(NO_GAPS))
def test_without_a_gap_scales_better_is_no_more_frequent_than_before(case):
    alphas, truth = NO_GAPS[case]
    now, before = verdicts_in_simulation(len(case), alphas, **truth)
    print(f"{case}: now {now}, before {before}")
    separated_now = sum(now.get(answer, 0) for answer in SEPARATED)
    separated_before = sum(before.get(answer, 0) for answer in SEPARATED)
    assert separated_now <= separated_before + 0.01 * SWEEPS
    assert separated_now <= 0.05 * SWEEPS


@pytest.mark.slow
@pytest.mark.parametrize("seeds", [3, 5, 8])
def test_equivalent_at_a_true_gap_of_the_margin_is_rare(seeds):
    """Two one-sided tests at 5%: at a true |Δα| equal to the margin, "equivalent" in at most 5% of
    sweeps (plus two standard errors of the simulation)."""
    sweeps = 400
    rng = np.random.default_rng([seeds, 5])
    wrong = 0
    for _ in range(sweeps):
        curves = simulated_sweep(rng, seeds, "power_law", {"network": 0.45, "kernel": 0.40})["test_error"]
        wrong += compare(curves).comparisons[0].verdict == "equivalent"
    print(f"{seeds} seeds: equivalent in {wrong}/{sweeps}")
    assert wrong <= sweeps * (0.05 + 2 * np.sqrt(0.05 * 0.95 / sweeps))


def test_a_verdict_on_a_law_that_predicts_far_worse_says_so_in_its_own_line():
    chosen = comparison(0.1, 0.05, held_out=0.2)
    far_better = decide(chosen, {("saturating", "test_error"): comparison(0.12, 0.05, held_out=0.01)})
    assert far_better.verdict == "network scales better"
    assert far_better.words("network").startswith(
        "`network` improves faster with n (95% CI excludes 0); the saturating law predicts the held-out largest n 20 times better")
    somewhat_better = decide(chosen, {("saturating", "test_error"): comparison(0.12, 0.05, held_out=0.04)})
    assert somewhat_better.law_note is None and somewhat_better.words("network") == "`network` improves faster with n (95% CI excludes 0)"


def test_an_underpowered_sweep_over_a_narrow_range_of_n_is_offered_wider_sizes():
    """Three sizes and three seeds: the advice names more seeds, a larger test set, and the sizes
    that would decide with fewer seeds; without the pair's projection, only the first two."""
    from simulated import N

    from ntkbench.analysis._power import project

    rng = np.random.default_rng(4)
    curves = simulated_sweep(rng, 3, "power_law", {"network": 0.45, "kernel": 0.30}, n=N[:3])["test_error"]
    result = compare(curves)
    (chosen,) = result.comparisons
    assert chosen.verdict == "inconclusive"
    projection = project([fit.curve for fit in result.fits], "network", "kernel", chosen.delta_spread, chosen.delta_alpha,
                         "test_error")
    advice = decide(chosen, {}, projection).would_decide
    assert advice.n_max > N[2] and advice.seeds_with_n_max < (advice.seeds or 10**6)
    assert f"{advice.seeds_with_n_max} seeds with n up to {advice.n_max}" in decide(chosen, {}, projection).words("network")
    assert "with n up to" not in decide(chosen, {}).words("network")

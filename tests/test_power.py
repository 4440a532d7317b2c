"""Sizing from a pilot: the half-width projected for another design (more seeds, a larger test set,
more or fewer sizes) agrees with the mean half-width of studies simulated at that design."""

from __future__ import annotations

import numpy as np
import pytest
from simulated import N, simulated_sweep

from ntkbench import compare
from ntkbench.analysis._power import project

ALPHAS = {"network": 0.45, "kernel": 0.35}
PILOTS, STUDIES = 40, 120

DESIGNS = {  # (pilot seeds, sizes, n_test) -> (design seeds, sizes, n_test)
    "more seeds and a larger test set": ((4, N[:5], 500), (8, N[:5], 2000)),
    "more sizes": ((4, N[:5], 1000), (4, N, 1000)),
    "fewer sizes": ((4, N, 1000), (4, N[:5], 1000)),
    "four times the range": ((4, N[:3], 1000), (4, N, 1000)),
    "all at once": ((3, N[:5], 500), (8, N, 2000)),
}


@pytest.mark.slow
@pytest.mark.parametrize("law", ["power_law", "saturating"])
@pytest.mark.parametrize("case", list(DESIGNS))
def test_a_projected_half_width_matches_the_simulated_one(case, law):
    (seeds, sizes, tests), (design_seeds, design_sizes, design_tests) = DESIGNS[case]
    if law == "saturating" and len(sizes) < 5:
        pytest.skip("three parameters fitted to 3 sizes: a saturating pilot needs more (the sizing says so)")
    rng = np.random.default_rng([len(case), len(law)])
    projected = []
    for _ in range(PILOTS):
        curves = simulated_sweep(rng, seeds, law, ALPHAS, n=sizes, tests=tests)["test_error"]
        (pair,) = compare(curves, law).comparisons
        projection = project(curves, "network", "kernel", pair.delta_spread, pair.delta_alpha, "test_error", law)
        projected.append(projection.spread_at(design_sizes, design_seeds, design_tests).half_width())
    simulated = np.mean([
        compare(simulated_sweep(rng, design_seeds, law, ALPHAS, n=design_sizes, tests=design_tests)["test_error"], law)
        .comparisons[0].delta_interval.half_width
        for _ in range(STUDIES)
    ])
    within = np.mean(np.abs(np.array(projected) / simulated - 1) < 0.25)
    print(f"{case}, {law}: projected {np.mean(projected):.4f} (mean of {PILOTS} pilots; {within:.0%} of them within 25%), "
          f"simulated {simulated:.4f}")
    assert abs(np.mean(projected) / simulated - 1) < 0.25

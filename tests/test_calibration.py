"""Calibration of the intervals: in simulated sweeps with a known truth (seed-to-seed variation of
level and exponent, and the sampling error of one fixed test set shared by every seed and
learner; `simulated.py`), the 95% intervals of α and of Δα cover the truth in at least 93% of 400
sweeps, at 2, 3, 4 and 5 seeds and under both laws."""

from __future__ import annotations

import numpy as np
import pytest
from simulated import simulated_sweep

from ntkbench import compare

SWEEPS = 400
ALPHAS = {"network": 0.45, "kernel": 0.35}


@pytest.mark.slow
@pytest.mark.parametrize("law", ["power_law", "saturating"])
@pytest.mark.parametrize("seeds", [2, 3, 4, 5])
def test_intervals_of_alpha_and_delta_alpha_cover_the_truth(seeds, law):
    rng = np.random.default_rng([seeds, len(law)])
    covered_alpha = covered_delta = 0
    for _ in range(SWEEPS):
        result = compare(simulated_sweep(rng, seeds, law, ALPHAS)["test_error"], law)
        network = next(fit for fit in result.fits if fit.curve.learner_id == "network")
        covered_alpha += network.alpha_interval.low <= ALPHAS["network"] <= network.alpha_interval.high
        (delta,) = result.comparisons
        truth = ALPHAS["network"] - ALPHAS["kernel"]
        covered_delta += delta.delta_interval.low <= truth <= delta.delta_interval.high
    print(f"{law}, {seeds} seeds: α covered in {covered_alpha}/{SWEEPS}, Δα in {covered_delta}/{SWEEPS}")
    assert covered_alpha >= 0.93 * SWEEPS
    assert covered_delta >= 0.93 * SWEEPS

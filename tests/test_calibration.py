"""Calibration of the intervals: in simulated sweeps with a known truth (seed-to-seed variation of
level and exponent, and the sampling error of one fixed test set shared by every seed and
learner), the 95% intervals of α and of Δα cover the truth in at least 93% of 400 sweeps, at
2, 3, 4 and 5 seeds and under both laws."""

from __future__ import annotations

import numpy as np
import pytest

from ntkbench import Curve, compare

N = np.array([64, 128, 256, 512, 1024, 2048, 4096], dtype=float)
TESTS = 1000
SWEEPS = 400
ALPHAS = {"network": 0.45, "kernel": 0.35}
PREFACTOR, FLOOR = 2.0, 0.04


def simulated_sweep(rng: np.random.Generator, seeds: int, law: str) -> list[Curve]:
    """Both learners' outcomes on one shared test set: example k is misclassified when its difficulty
    u_k is below the learner's error, so hard examples are hard for every seed and learner."""
    difficulty = rng.random(TESTS)
    centred = np.log(N) - np.log(N).mean()
    curves = []
    for learner, alpha in ALPHAS.items():
        slope = rng.normal(0.0, 0.02, size=(seeds, 1))  # each seed's exponent differs a little
        level = rng.normal(0.0, 0.05, size=(seeds, 1)) + rng.normal(0.0, 0.03, size=(seeds, len(N)))
        power = PREFACTOR * N**-alpha * np.exp(slope * centred)
        error = ((FLOOR if law == "saturating" else 0.0) + power) * np.exp(level)
        outcomes = (difficulty[None, None, :] < error[:, :, None]).astype(np.float64)
        curves.append(Curve(learner, learner, N, outcomes.mean(axis=-1), outcomes))
    return curves


@pytest.mark.parametrize("law", ["power_law", "saturating"])
@pytest.mark.parametrize("seeds", [2, 3, 4, 5])
def test_intervals_of_alpha_and_delta_alpha_cover_the_truth(seeds, law):
    rng = np.random.default_rng([seeds, len(law)])
    covered_alpha = covered_delta = 0
    for _ in range(SWEEPS):
        result = compare(simulated_sweep(rng, seeds, law), law)
        network = next(fit for fit in result.fits if fit.curve.learner_id == "network")
        covered_alpha += network.alpha_interval.low <= ALPHAS["network"] <= network.alpha_interval.high
        (delta,) = result.comparisons
        truth = ALPHAS["network"] - ALPHAS["kernel"]
        covered_delta += delta.delta_interval.low <= truth <= delta.delta_interval.high
    print(f"{law}, {seeds} seeds: α covered in {covered_alpha}/{SWEEPS}, Δα in {covered_delta}/{SWEEPS}")
    assert covered_alpha >= 0.93 * SWEEPS
    assert covered_delta >= 0.93 * SWEEPS

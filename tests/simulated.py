"""Simulated sweeps with a known truth, for the tests of intervals and verdicts (and the power curves
in docs/power.md): seed-to-seed variation of level and exponent, and one fixed test set shared by
every seed and learner, whose hard examples are hard for all of them."""

from __future__ import annotations

import numpy as np

from ntkbench import Curve

N = np.array([64, 128, 256, 512, 1024, 2048, 4096], dtype=float)
TESTS = 1000
PREFACTOR, FLOOR = 2.0, 0.04
SLOPE_SD, LEVEL_SD, POINT_SD = 0.02, 0.05, 0.03
"""Each seed's exponent and level differ by these standard deviations, and each point by the last."""


def simulated_sweep(
    rng: np.random.Generator, seeds: int, law: str, alphas: dict[str, float], *, n: np.ndarray = N, tests: int = TESTS,
    floors: dict[str, float] | None = None, prefactors: dict[str, float] | None = None,
) -> dict[str, list[Curve]]:
    """Every learner's curves of `test_error` and `test_loss` on one shared test set: error
    `prefactor n^-alpha + floor` (`PREFACTOR` or each learner's of `prefactors`; floor `FLOOR`
    under the saturating law, 0 under the power law, or each learner's of `floors`). Example k is misclassified when its difficulty u_k is below the
    learner's error; its loss is its error plus half the learner's error times −log u_k (hard
    examples cost more), so both metrics scale alike."""
    difficulty = rng.random(tests)
    centred = np.log(n) - np.log(n).mean()
    curves: dict[str, list[Curve]] = {"test_error": [], "test_loss": []}
    for learner, alpha in alphas.items():
        slope = rng.normal(0.0, SLOPE_SD, size=(seeds, 1))
        level = rng.normal(0.0, LEVEL_SD, size=(seeds, 1)) + rng.normal(0.0, POINT_SD, size=(seeds, len(n)))
        prefactor = prefactors[learner] if prefactors is not None else PREFACTOR
        power = prefactor * n**-alpha * np.exp(slope * centred)
        floor = floors[learner] if floors is not None else FLOOR if law == "saturating" else 0.0
        error = (floor + power) * np.exp(level)
        outcomes = (difficulty[None, None, :] < error[:, :, None]).astype(np.float64)
        losses = outcomes + 0.5 * error[:, :, None] * -np.log(difficulty)[None, None, :]
        curves["test_error"].append(Curve(learner, learner, n, outcomes.mean(axis=-1), outcomes))
        curves["test_loss"].append(Curve(learner, learner, n, losses.mean(axis=-1), losses))
    return curves

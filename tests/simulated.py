"""Simulated sweeps with a known truth, for the tests of intervals and verdicts (and the power curves
in docs/concepts/pilot-procedure.md): seed-to-seed variation of level and exponent, and one fixed test set shared by
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


N_CENTRE = 256.0
"""Where a seed's random exponent pivots: its curve is the same function of n in every design."""


class SimulatedStudy:
    """One simulated experiment whose seeds are fixed draws, as a spec's are: a seed asked for again
    (at other sizes, with another test set) has the same level and exponent offsets and the same
    noise at each size, and a design's test set is the first n_test examples of one pool, nested as
    the runner's balanced test subsets are. A pilot and a final study that share seeds or test
    examples share their errors, as real ones do.

    The learners' errors are `prefactor n^-alpha + floor` (as `simulated_sweep`'s), times each seed's
    level and exponent offsets and each point's noise; the standard deviations are arguments."""

    def __init__(self, rng: np.random.Generator, law: str, alphas: dict[str, float], *, slope_sd: float = SLOPE_SD,
                 level_sd: float = LEVEL_SD, point_sd: float = POINT_SD, test_pool: int = 8000):
        self.key = int(rng.integers(2**62))
        self.difficulty = rng.random(test_pool)
        self.law, self.alphas = law, alphas
        self.slope_sd, self.level_sd, self.point_sd = slope_sd, level_sd, point_sd

    def _offsets(self, seed: int, learner: int, n: np.ndarray) -> np.ndarray:
        """The log-scale offset of one seed's curve of one learner at each size."""
        slope, level = np.random.default_rng([self.key, seed, learner]).normal(0.0, [self.slope_sd, self.level_sd])
        points = [np.random.default_rng([self.key, seed, learner, int(size)]).normal(0.0, self.point_sd) for size in n]
        return slope * np.log(n / N_CENTRE) + level + np.array(points)

    def curves(self, seeds: list[int], n: np.ndarray, n_test: int, *, test_offset: int = 0,
               outcomes: bool = True) -> dict[str, list[Curve]]:
        """Every learner's curves of `test_error` and `test_loss` (as `simulated_sweep` gives them), on
        the test examples from `test_offset` on; without `outcomes`, curves without per-example
        outcomes (as older records are), whose intervals have the seeds' part only."""
        n = np.asarray(n, dtype=float)
        difficulty = self.difficulty[test_offset:test_offset + n_test]
        curves: dict[str, list[Curve]] = {"test_error": [], "test_loss": []}
        for index, (learner, alpha) in enumerate(self.alphas.items()):
            floor = FLOOR if self.law == "saturating" else 0.0
            offsets = np.stack([self._offsets(seed, index, n) for seed in seeds])
            error = (floor + PREFACTOR * n**-alpha) * np.exp(offsets)
            wrong = (difficulty[None, None, :] < error[:, :, None]).astype(np.float64)
            losses = wrong + 0.5 * error[:, :, None] * -np.log(difficulty)[None, None, :]
            curves["test_error"].append(Curve(learner, learner, n, wrong.mean(axis=-1), wrong if outcomes else None))
            curves["test_loss"].append(Curve(learner, learner, n, losses.mean(axis=-1), losses if outcomes else None))
        return curves

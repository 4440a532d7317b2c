"""The procedure a user is told to follow, simulated through ntkbench's own code: a pilot, the final
design `ntkbench plan --pilot` chooses from it (`ntkbench.analysis._power`: the same candidate
designs, projections and choice), the final study, its verdict. Used by `tests/test_procedure.py`
and `scripts/power_curves.py` (docs/concepts/pilot-procedure.md)."""

from __future__ import annotations

import dataclasses

import numpy as np
from simulated import SimulatedStudy

from ntkbench import compare
from ntkbench.analysis._power import chosen_design, designs_at, fresh_seeds, pairs_of

PILOT_SEEDS = [0, 1, 2]
SIZES = (64, 128, 256, 512, 1024, 2048)
"""The sizes of the spec (and its pilot): those of fashion_myrtle_study."""
N_TEST = 1000
SEED_COUNTS = range(2, 21)
TEST_FACTORS = (1, 2, 4)
SIZE_STEPS = (-1, 0, 1, 2)
SLOPE_SD = 0.025
"""Each seed's exponent offset, per learner: Δα varies by about 0.035 between seeds, as in
fashion_myrtle_study's pilot (+0.04, +0.08, +0.11)."""


def ladders(sizes: tuple[int, ...] = SIZES) -> list[tuple[int, ...]]:
    """The candidate size ladders, as `ntkbench plan --pilot` builds them from a spec's."""
    ratio = sizes[-1] / sizes[-2]
    found = []
    for step in SIZE_STEPS:
        ladder = list(sizes[:step]) if step < 0 else [*sizes, *(int(round(sizes[-1] * ratio**k)) for k in range(1, step + 1))]
        if len(ladder) >= 3:
            found.append(tuple(ladder))
    return found


def seconds(seeds: int, n_test: int, ladder: tuple[int, ...]) -> float:
    """A planned cost: kernel regression's, n³ to solve and n · n_test to predict, per seed and size."""
    return seeds * sum(n**3 / 1e9 + n * n_test / 1e7 for n in ladder)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One run of the procedure: the design chosen, and the final verdict on seeds apart from the
    pilot's (`fresh`, the procedure now) and, as it was before, on the spec's seeds counted from 0,
    the pilot's among them (`reused`)."""

    seeds: int
    n_test: int
    largest_n: int
    fresh: str
    reused: str


def run_procedure(rng: np.random.Generator, delta: float, margin: float = 0.05, *, kernel_alpha: float = 0.35,
                  pilot_test_offset: int = 0, outcomes: bool = True) -> Outcome | None:
    """Pilot → plan → final study → verdict, for a true Δα = α(network) − α(kernel) of `delta` (None
    when the pilot compares nothing with an interval). The pilot's test set is the final study's
    (offset 0: a pilot of the spec as written) or examples beyond it (`pilot_test_offset`);
    without `outcomes` the intervals have the seeds' part only. The final verdict is the spec's
    law and metric alone (`verdict`): the leaderboard's `decide` can only turn a separated or an
    equivalent answer into another, so these rates bound its."""
    study = SimulatedStudy(rng, "power_law", {"network": kernel_alpha + delta, "kernel": kernel_alpha}, slope_sd=SLOPE_SD)
    pilot_curves = study.curves(PILOT_SEEDS, np.array(SIZES), N_TEST, test_offset=pilot_test_offset, outcomes=outcomes)
    pilot = compare(pilot_curves["test_error"], "power_law", margin=margin)
    pairs = pairs_of(pilot, "test_error")
    if not pairs:
        return None
    designs = [
        design
        for ladder in ladders()
        for design in designs_at(pairs, margin, ladder, np.array(ladder, dtype=float),
                                 [(count, N_TEST * factor, seconds(count, N_TEST * factor, ladder))
                                  for factor in TEST_FACTORS for count in SEED_COUNTS])
    ]
    design = chosen_design(designs)
    verdicts = {}
    for name, seeds in (("fresh", fresh_seeds(PILOT_SEEDS, design.seeds)), ("reused", list(range(design.seeds)))):
        final = study.curves(seeds, np.array(design.n_train), design.n_test, outcomes=outcomes)["test_error"]
        verdicts[name] = compare(final, "power_law", margin=margin).comparisons[0].verdict
    return Outcome(design.seeds, design.n_test, design.n_train[-1], **verdicts)

"""The procedure a user is told to follow, simulated end to end through ntkbench's own code
(`procedure.py`): a 3-seed pilot, the final design `ntkbench plan --pilot` chooses from it, the
final study on seeds apart from the pilot's, its verdict. At a true Δα of 0 it separates, and at a
true |Δα| of the margin it says "equivalent", in at most 5% of studies (plus two standard errors
of the simulation). The same studies analysed as the procedure was before (the pilot's seeds among
the final ones) give more false answers; how many more, docs/concepts/pilot-procedure.md measures with 4000 studies
per truth (here the difference is about two of its standard errors)."""

from __future__ import annotations

import numpy as np
import pytest
from procedure import run_procedure

from ntkbench.analysis._intervals import SEPARATED

pytestmark = pytest.mark.slow
STUDIES = 1000
MARGIN = 0.05


def bound(count: int, level: float = 0.05) -> float:
    """The nominal rate plus two standard errors of a simulation of `count` studies."""
    return level + 2 * np.sqrt(level * (1 - level) / count)


@pytest.fixture(scope="module")
def false_answers() -> dict[str, list[tuple[bool, bool]]]:
    """Per truth, each study's (fresh, reused) answer being false: separated at Δα = 0,
    "equivalent" at Δα = ±margin."""
    rng = np.random.default_rng(2026)
    found: dict[str, list[tuple[bool, bool]]] = {"no gap": [], "a gap of the margin": []}
    for index in range(STUDIES):
        outcome = run_procedure(rng, 0.0, MARGIN)
        if outcome:
            found["no gap"].append((outcome.fresh in SEPARATED, outcome.reused in SEPARATED))
        outcome = run_procedure(rng, MARGIN if index % 2 else -MARGIN, MARGIN)
        if outcome:
            found["a gap of the margin"].append((outcome.fresh == "equivalent", outcome.reused == "equivalent"))
    return found


def test_the_procedure_keeps_the_verdicts_error_rates(false_answers):
    for truth, answers in false_answers.items():
        rate = np.mean([fresh for fresh, _ in answers])
        print(f"{truth}: {rate:.3f} of {len(answers)} studies answer falsely (bound {bound(len(answers)):.3f})")
        assert len(answers) > 0.95 * STUDIES and rate <= bound(len(answers)), truth


def test_reusing_the_pilots_seeds_gave_more_false_answers(false_answers):
    """Paired: the same simulated studies, analysed on the pilot's seeds plus new ones."""
    pairs = [pair for answers in false_answers.values() for pair in answers]
    only_reused = sum(reused and not fresh for fresh, reused in pairs)
    only_fresh = sum(fresh and not reused for fresh, reused in pairs)
    difference = (only_reused - only_fresh) / len(pairs)
    standard_error = np.sqrt(only_reused + only_fresh) / len(pairs)
    print(f"false answers: reused {np.mean([r for _, r in pairs]):.3f}, fresh {np.mean([f for f, _ in pairs]):.3f}; "
          f"difference {difference:+.3f} ± {standard_error:.3f}")
    assert difference > 0

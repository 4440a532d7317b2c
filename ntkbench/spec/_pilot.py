"""The pilot of a spec: what `ntkbench plan` suggests running first to size a study (`--pilot DIR`)."""

from __future__ import annotations

from ._models import Spec

PILOT_SEEDS = 3
"""Seeds of a suggested pilot: the fewest whose seed-to-seed spread estimates the final study's."""


def pilot_command(spec: Spec, spec_path: str, out: str) -> str:
    """The command that runs a pilot of `spec`: its first `PILOT_SEEDS` seeds when it has more, else
    its seeds on a test set a quarter the size (a pilot is cheaper than the study it sizes)."""
    if len(spec.seeds) > PILOT_SEEDS:
        change = f"sweep.seeds=[{','.join(map(str, spec.seeds[:PILOT_SEEDS]))}]"
    else:
        change = f"dataset.n_test={max(1, spec.dataset.options.n_test // 4)}"
    return f"ntkbench run {spec_path} --set {change} --out {out}"

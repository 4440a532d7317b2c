"""Finite-rank kernels (random features, the empirical NNGP of the registry plugins): one ridge for
every n interpolates at n = rank, and `ridge: auto` removes that spike."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

import ntkbench
from ntkbench import parse_spec, run_spec
from ntkbench.storage import RecordStore

SPEC = """\
name: spike
dataset: {name: teacher_student, dim: 16, pool: 2000, n_test: 1000, validation_n: 400}
architecture: {name: mlp, width: 64, depth: 1}
learners:
  - {name: random_features, id: rf_fixed, width: 32, ridge: 1.0e-8}
  - {name: random_features, id: rf_auto, width: 32, ridge: auto}
  - {name: nngp_empirical, id: nngp_fixed, ridge: 1.0e-8}
  - {name: nngp_empirical, id: nngp_auto, ridge: auto}
sweep: {n_train: [16, 32, 64, 128], seeds: [0, 1, 2, 3]}
"""


def test_ridge_auto_removes_the_interpolation_spike_of_finite_rank_kernels(tmp_path):
    spec = parse_spec(SPEC)
    summary = run_spec(spec, tmp_path, progress=False)
    assert summary.computed == 64 and not summary.failed
    errors: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in RecordStore(tmp_path).load(spec.as_dict()).current.values():
        errors[record.cell.learner_id][record.cell.n_train].append(record.metrics["test_error"])
        if record.cell.learner_id.endswith("auto"):
            assert record.info["ridge"] in ntkbench.RIDGE_GRID and len(record.info["validation_errors"]) == 12
    mean = {learner: {n: float(np.mean(v)) for n, v in by_n.items()} for learner, by_n in errors.items()}
    # The spike: 33 random features (32 + bias) at n = 32, the 65-dimensional NNGP at n = 64.
    assert mean["rf_fixed"][32] > mean["rf_fixed"][16] + 0.03
    assert mean["nngp_fixed"][64] > mean["nngp_fixed"][32] + 0.03
    for learner in ("rf_auto", "nngp_auto"):
        sizes = sorted(mean[learner])
        for smaller, larger in zip(sizes, sizes[1:]):
            assert mean[learner][larger] <= mean[learner][smaller] + 0.02, (learner, mean[learner])


def test_the_ridge_grid_is_twelve_log_spaced_values():
    assert ntkbench.RIDGE_GRID == tuple(float(ridge) for ridge in np.logspace(-8, 1, 12))

"""The validation split, and kernels whose ridge is chosen on it per n."""

from __future__ import annotations

import numpy as np
import pytest

from ntkbench import SpecError, parse_spec
from ntkbench.numerics._ridge_search import choose_ridges

SPEC = """\
name: validated
dataset: {name: teacher_student, dim: 6, pool: 400, n_test: 40, validation_n: 50, label_noise: 0.1}
architecture: {name: mlp, width: 16, depth: 1}
learners:
  - {name: ntk_infinite, ridge: auto}
  - {name: entk_pretrained, pretrain_n: 30, steps: 5, ridge: [1.0e-6, 1.0e-2]}
sweep: {n_train: [16, 32, 64], seeds: [0, 1]}
"""


def test_validation_samples_are_disjoint_from_training_held_out_and_test_samples():
    from ntkbench.runner._work import prepare

    spec = parse_spec(SPEC)
    context, _ = prepare(spec)
    for seed, sampler in context.samplers.items():
        training = set(sampler.order[: max(spec.n_train)].tolist())
        validation = set(sampler.validation_indices().tolist())
        held_out = set(sampler.held_out_indices(30).tolist())
        assert len(validation) == 50 and len(held_out) == 30
        assert not training & validation and not training & held_out and not validation & held_out
        x_validation, _ = sampler.validation_subset()
        # the test set comes from the official test split: no test input is a validation input
        assert not {row.tobytes() for row in x_validation} & {row.tobytes() for row in context.x_test}
    with pytest.raises(Exception, match="at most 64 are training samples"):
        context.samplers[0].nested_subset(65)  # a training set never reaches into the validation block


def test_a_ridge_grid_needs_validation_samples_and_at_least_one_ridge():
    with pytest.raises(SpecError) as caught:
        parse_spec(SPEC.replace(", validation_n: 50", ""))
    assert [problem.key for problem in caught.value.problems] == ["learners[0].name", "learners[1].name"]
    assert "chooses on validation data" in caught.value.problems[0].reason
    with pytest.raises(SpecError, match=r"learners\[1\]\.ridge"):
        parse_spec(SPEC.replace("ridge: [1.0e-6, 1.0e-2]", "ridge: []"))
    with pytest.raises(SpecError, match="plus the 350 validation samples plus the 30 samples learner 'entk_pretrained' holds out"):
        parse_spec(SPEC.replace("validation_n: 50", "validation_n: 350"))
    assert "validation_n" not in parse_spec(SPEC.replace(", validation_n: 50", "").replace("ridge: auto", "ridge: 1.0e-6").replace(
        ", ridge: [1.0e-6, 1.0e-2]", "")).as_dict()["dataset"]  # left out at its default: no stored key changes


def test_at_the_rank_of_a_finite_rank_kernel_validation_avoids_the_interpolation_spike():
    """A kernel of rank r (64 random ReLU features of 2-d inputs) interpolates worst at n = r: there
    the smallest ridge of the grid is far from the best on validation data, and the chosen ridge is
    orders of magnitude larger, with the grid's lowest validation error and a lower test error."""
    rank, grid = 64, tuple(float(r) for r in np.logspace(-8, 1, 12))
    for seed in range(10):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(rank + 1000 + 500, 2))
        features = np.maximum(x @ rng.normal(size=(2, rank)) + rng.normal(size=rank), 0) / np.sqrt(rank)
        labels = (np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] > 0).astype(int)
        train, validation, test = features[:rank], features[rank : rank + 1000], features[rank + 1000 :]
        y_test = labels[rank + 1000 :]
        choices = choose_ridges(
            train @ train.T, test @ train.T, validation @ train.T, labels[:rank], labels[rank : rank + 1000], 2,
            sizes=(rank // 4, rank), ridges=grid,
        )
        at_rank = choices[rank]
        assert len(at_rank.validation_errors) == len(grid)
        tried = [error for error in at_rank.validation_errors if error is not None]
        assert at_rank.ridge >= 1e2 * grid[0] and min(tried) == at_rank.validation_errors[grid.index(at_rank.ridge)]
        # Every ridge alone (what the grid's sweep would see): the search found the grid's lowest.
        alone = [choose_ridges(train @ train.T, test @ train.T, validation @ train.T, labels[:rank],
                               labels[rank : rank + 1000], 2, sizes=(rank,), ridges=(ridge,))[rank] for ridge in grid]
        assert min(choice.validation_errors[0] for choice in alone) == min(tried)
        assert alone[0].validation_errors[0] > min(tried) + 0.05
        assert np.mean(at_rank.predictions.argmax(1) != y_test) < np.mean(alone[0].predictions.argmax(1) != y_test)


def test_a_run_records_the_chosen_ridge_and_the_validation_errors(tmp_path):
    from ntkbench import RIDGE_GRID, run_spec
    from ntkbench.storage import RecordStore

    spec = parse_spec(SPEC)
    summary = run_spec(spec, tmp_path / "out", progress=False)
    assert summary.computed == 12 and not summary.failed
    records = RecordStore(tmp_path / "out").load(spec.as_dict()).current
    for cell, record in records.items():
        ridges = RIDGE_GRID if cell.learner_id == "ntk_infinite" else (1e-6, 1e-2)
        assert record.info["ridge"] in ridges and record.info["ridges"] == list(ridges)
        assert len(record.info["validation_errors"]) == len(ridges)
        assert record.info["validation_error"] == min(error for error in record.info["validation_errors"] if error is not None)


def test_the_grid_is_swept_below_the_largest_size_and_searched_at_it(monkeypatch):
    """Every ridge is tried at every size but the largest (on the second-largest's kernel), with the
    choices of a full sweep; the largest size tries a neighbourhood of the ridge that won below it."""
    from ntkbench import RIDGE_GRID
    from ntkbench.numerics import _ridge_search

    rng = np.random.default_rng(0)
    x = rng.normal(size=(128 + 300 + 200, 3))
    features = np.tanh(x @ rng.normal(size=(3, 96)))
    labels = (x[:, 0] * x[:, 1] > 0).astype(int)
    train, validation, test = features[:128], features[128:428], features[428:]
    kernels = (train @ train.T, test @ train.T, validation @ train.T)
    factored = []
    real = _ridge_search.factor_kernel
    monkeypatch.setattr(_ridge_search, "factor_kernel", lambda k, ridge: factored.append(len(k)) or real(k, ridge))
    choices = choose_ridges(*kernels, labels[:128], labels[128:428], 2, sizes=(32, 64, 128), ridges=RIDGE_GRID)
    assert factored.count(64) == len(RIDGE_GRID) and 2 <= factored.count(128) <= 2 * 3 + 1 + 2
    assert len(factored) == factored.count(64) + factored.count(128)
    for n in (32, 64):  # what a sweep of every ridge on the n-sample kernel alone chooses
        alone = [choose_ridges(kernels[0][:n, :n], kernels[1][:, :n], kernels[2][:, :n], labels[:n], labels[128:428], 2,
                               sizes=(n,), ridges=(ridge,))[n] for ridge in RIDGE_GRID]
        best = min(range(len(RIDGE_GRID)), key=lambda k: (alone[k].validation_errors[0], k))
        assert choices[n].validation_errors == tuple(choice.validation_errors[0] for choice in alone)
        assert min(choices[n].validation_errors) == alone[best].validation_errors[0]
    tried = [error for error in choices[128].validation_errors if error is not None]
    assert len(tried) == factored.count(128) and choices[128].validation_errors[RIDGE_GRID.index(choices[128].ridge)] == min(tried)

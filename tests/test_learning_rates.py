"""Network learners that choose their learning rate on validation data."""

from __future__ import annotations

import pytest

from ntkbench import SpecError, parse_spec, run_spec
from ntkbench.storage import RecordStore

SPEC = """\
name: rates
dataset: {name: teacher_student, dim: 4, pool: 300, n_test: 20, validation_n: 40}
architecture: {name: mlp, width: 16, depth: 1}
learners:
  - {name: network, batch_size: 16, steps: 60, optimizer: {name: sgd, learning_rate: [0.05, 0.5, 1.0e+6]}}
sweep: {n_train: [16, 32], seeds: [0]}
"""


def test_the_rate_with_the_lowest_validation_error_is_kept_and_a_diverging_one_is_no_candidate(tmp_path):
    spec = parse_spec(SPEC)
    summary = run_spec(spec, tmp_path / "out", progress=False)
    assert summary.computed == 2 and not summary.failed
    for record in RecordStore(tmp_path / "out").load(spec.as_dict()).current.values():
        errors = record.info["validation_errors"]
        assert record.info["learning_rates"] == [0.05, 0.5, 1.0e6] and errors[2] is None  # 1e6 diverges
        assert record.info["learning_rate"] in (0.05, 0.5)
        assert errors[[0.05, 0.5].index(record.info["learning_rate"])] == min(e for e in errors if e is not None)
        assert record.info["steps"] == 60


def test_a_rate_list_needs_validation_data_and_a_network_learner():
    with pytest.raises(SpecError, match="learner 'network' chooses on validation data"):
        parse_spec(SPEC.replace(", validation_n: 40", ""))
    pretrained = SPEC.replace("{name: network,", "{name: entk_pretrained, pretrain_n: 20,")
    with pytest.raises(SpecError, match="chosen on validation data by network learners; give one rate"):
        parse_spec(pretrained)
    with pytest.raises(SpecError, match=r"learners\[0\]\.optimizer"):
        parse_spec(SPEC.replace("[0.05, 0.5, 1.0e+6]", "[]"))


def test_the_plan_counts_one_training_per_rate_held_together():
    from ntkbench.runner import plan_spec

    single = plan_spec(parse_spec(SPEC.replace("[0.05, 0.5, 1.0e+6]", "0.5")), detailed=True, rates={"gemm_flops": 1e11, "cholesky_flops": 5e10})
    listed = plan_spec(parse_spec(SPEC), detailed=True, rates={"gemm_flops": 1e11, "cholesky_flops": 5e10})
    shared = 4 * 4 * (300 + 20)  # the data set (pool and test inputs of dimension 4), held once
    for one, three in zip(single, listed, strict=True):
        # the rates train as one computation: three times the work, and their arrays held together
        assert three.cost.flops == pytest.approx(3 * one.cost.flops)
        assert three.cost.peak_bytes - shared == 3 * (one.cost.peak_bytes - shared)

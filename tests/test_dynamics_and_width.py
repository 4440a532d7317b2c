"""Kernel dynamics, the after kernel (`entk_final`) and width sweeps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import requires_fashion_mnist, run_cli, spec_page

from ntkbench import DynamicsRequest, SpecError, parse_spec
from ntkbench.numerics._dynamics import kernel_distance, settling_fraction
from ntkbench.storage._cells import cells_of


def test_kernel_distance_is_zero_symmetric_and_scale_invariant():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    k1, k2 = a @ a.T, b @ b.T
    assert kernel_distance(k1, k1) == pytest.approx(0.0, abs=1e-12)
    assert kernel_distance(k1, k2) == pytest.approx(kernel_distance(k2, k1))
    assert kernel_distance(3.0 * k1, 0.5 * k2) == pytest.approx(kernel_distance(k1, k2))
    assert 0 < kernel_distance(k1, k2) <= 1


def test_checkpoints_are_log_spaced_or_per_epoch():
    def request(checkpoints: int = 20, every_epoch: bool = False) -> DynamicsRequest:
        return DynamicsRequest(np.zeros((1, 2)), checkpoints, every_epoch, test_error=lambda predictions: 0.0)

    steps = request(checkpoints=5).checkpoint_steps(1000, n=100, batch_size=10)
    assert steps[0] == 0 and steps[-1] == 1000 and steps == sorted(set(steps))
    assert np.allclose(np.diff(np.log(steps[1:])), np.log(1000) / 3, rtol=0.2)
    epochs = request(every_epoch=True).checkpoint_steps(35, n=100, batch_size=10)
    assert epochs == [0, 10, 20, 30, 35]


def test_settling_fraction():
    assert settling_fraction([0.0, 0.1, 0.5, 1.0], [1.0, 0.5, 0.05, 0.0]) == 0.5
    assert settling_fraction([0.0, 0.5, 1.0], [1.0, 0.5, 0.0]) is None  # only at the very end: never


def test_width_sweep_expands_into_every_learner_at_every_width():
    spec = parse_spec(
        """\
name: widths
dataset: {name: teacher_student, dim: 8, n_test: 50}
architecture: {name: mlp, width: 64}
learners: [{name: network}, {name: ntk_infinite}]
sweep: {n_train: [16, 32], seeds: [0, 1], width: [256, 16]}
"""
    )
    cells = cells_of(spec.as_dict())
    assert len(cells) == 2 * 2 * 2 * 2
    assert {(c.learner_id, c.width) for c in cells} == {(l, w) for l in ("network", "ntk_infinite") for w in (16, 256)}
    assert [c.width for c in cells[:4]] == [16] * 4  # ordered learner, width, seed, n
    assert cells[0].label() == "network width=16 n=16 seed=0"


def test_width_sweep_needs_a_width_option(third_party_plugins):
    with pytest.raises(SpecError, match="'twinless' has no 'width' option to sweep"):
        parse_spec(
            """\
name: widths
dataset: {name: blobs}
architecture: {name: twinless}
learners: [{name: mean_classifier}]
sweep: {n_train: [16, 32], seeds: [0], width: [8, 16]}
"""
        )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("learners: [{name: network}, {name: entk_init}]\nsweep: {seeds: [0]}", "exactly one learner"),
        ("learners: [{name: network}]\nsweep: {seeds: [0], n_train: [64]}", "leave sweep.n_train out"),
        ("learners: [{name: network}]\nsweep: {seeds: [0]}\nfit: {}", None),
    ],
)
def test_dynamics_spec_validation(section, message):
    text = f"""\
name: dyn
dataset: {{name: teacher_student, dim: 8, n_test: 100}}
architecture: {{name: mlp, width: 16}}
{section}
dynamics: {{train_n: 32, probe_n: 20}}
"""
    if message is None:
        assert parse_spec(text).n_train == (32,)
    else:
        with pytest.raises(SpecError, match=message):
            parse_spec(text)
    with pytest.raises(SpecError, match="sweep.n_train: required key is missing"):
        parse_spec(text.split("dynamics:")[0].replace("sweep: {seeds: [0], n_train: [64]}", "sweep: {seeds: [0]}"))


DYNAMICS = """\
name: dyn
dataset: {{name: teacher_student, dim: 8, n_test: 60, num_classes: 2}}
architecture: {{name: mlp, width: 32, depth: 1}}
learners: [{{name: network, optimizer: {{name: sgd, learning_rate: {lr}}}, batch_size: 16, steps: 40}}]
sweep: {{seeds: [0, 1]}}
dynamics: {{train_n: 48, probe_n: 24, checkpoints: 6}}
"""


@pytest.mark.slow
def test_a_frozen_network_has_a_still_kernel_and_a_trained_one_moves(write_spec, tmp_path):
    trajectories = {}
    for lr in (0.0, 0.5):
        out = tmp_path / f"lr{lr}"
        result = run_cli("run", str(write_spec(DYNAMICS.format(lr=lr), f"dyn{lr}.yaml")), "--out", str(out), "--no-progress")
        assert result.returncode == 0, result.stderr
        records = [json.loads(p.read_text()) for p in (out / "records").glob("*/*.json")]
        assert len(records) == 2
        trajectories[lr] = records[0]["info"]["checkpoints"]
        assert "## Kernel dynamics" in spec_page(out)
    still, moving = trajectories[0.0], trajectories[0.5]
    assert still[0]["step"] == 0 and still[-1]["step"] == 40 and len(still) == 6
    print("frozen network:", [(row["step"], row["distance_to_init"], row["velocity"]) for row in still])
    assert all(row["velocity"] < 1e-12 and row["distance_to_init"] < 1e-12 for row in still)
    assert max(row["distance_to_init"] for row in moving) > 1e-6
    assert moving[-1]["distance_to_final"] < 1e-12 and moving[0]["distance_to_init"] < 1e-12


@requires_fashion_mnist
def test_entk_final_trains_then_regresses_with_the_after_kernel(tmp_path, write_spec):
    spec = write_spec(
        """\
name: after
dataset: {name: fashion_mnist, n_test: 100}
architecture: {name: mlp, width: 32, depth: 1}
learners:
  - {name: entk_final, steps: 30, batch_size: 16, optimizer: {name: sgd, learning_rate: 0.5, momentum: 0.9}}
  - {name: entk_init}
sweep: {n_train: [16, 32, 64], seeds: [0]}
"""
    )
    result = run_cli("run", str(spec), "--out", str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 0, result.stderr
    records = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "out" / "records" / "entk_final").glob("*.json")}
    assert len(records) == 3
    for record in records.values():
        assert record["info"]["train_train_loss_final"] < record["info"]["train_train_loss_initial"]
        assert "seed_kernel_seconds" in record["info"]

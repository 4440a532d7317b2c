"""`network_linearized`: the first-order Taylor expansion of the network, trained like the network."""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np

from ntkbench import ArtifactCache, LearnerTask
from ntkbench.architectures.mlp import MLPArchitecture, MLPOptions
from ntkbench.kernels import one_hot
from ntkbench.learners.network_linearized import LinearizedNetworkLearner
from ntkbench.nt_compat import import_neural_tangents
from ntkbench.numerics._linearized import Linearized
from ntkbench.training import TrainingOptions


def small_task(n: int = 8, n_test: int = 5, classes: int = 2) -> LearnerTask:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(n, 3)).astype(np.float32), rng.integers(0, classes, n).astype(np.int32)
    x_test = rng.normal(size=(n_test, 3)).astype(np.float32)
    return LearnerTask(
        x_train=x, y_train=y, x_test=x_test, num_classes=classes, seed=0, n_train_max=n,
        architecture=MLPArchitecture(MLPOptions(width=32, depth=1)), nested_subset=lambda m: (x[:m], y[:m]),
        held_out_subset=lambda m: (x[-m:], y[-m:]), cache=ArtifactCache(),
    )


def test_the_linearisation_starts_as_the_network_and_moves_along_its_jacobian():
    task = small_task()
    network = task.init_model()
    linear = Linearized(network)
    np.testing.assert_allclose(jax.vmap(linear)(task.x_test), jax.vmap(network)(task.x_test), rtol=1e-6, atol=1e-6)
    step = jax.tree_util.tree_map(lambda leaf: 1e-4 * jax.numpy.ones_like(leaf), linear.delta)
    moved = eqx.tree_at(lambda module: module.delta, linear, step)
    params, static = eqx.partition(network, eqx.is_inexact_array)
    shifted = eqx.combine(jax.tree_util.tree_map(lambda p, d: p + d, params, step), static)
    # first order: the linearisation and the shifted network agree to O(|step|^2)
    np.testing.assert_allclose(jax.vmap(moved)(task.x_test), jax.vmap(shifted)(task.x_test), atol=2e-5)
    assert not np.allclose(jax.vmap(moved)(task.x_test), jax.vmap(network)(task.x_test), atol=1e-4)  # it did move


def test_only_the_displacement_trains():
    task = small_task()
    options = TrainingOptions(optimizer={"name": "sgd", "learning_rate": 0.5}, batch_size=8, steps=20, weight_decay=0.1)
    from ntkbench.training import train_network

    initial = Linearized(task.init_model())
    trained, _ = train_network(initial, task.x_train, task.y_train, 2, options, seed=0)
    for before, after in zip(jax.tree_util.tree_leaves(initial.network), jax.tree_util.tree_leaves(trained.network), strict=True):
        np.testing.assert_array_equal(before, after)  # theta_0 is never updated, weight decay included
    assert any(np.abs(leaf).max() > 0 for leaf in jax.tree_util.tree_leaves(trained.delta))


def test_a_centred_linearised_network_trained_to_convergence_is_kernel_regression_with_its_full_ntk():
    """The identity that defines it: full batch, squared loss, centred, trained until the loss is
    negligible, it predicts what kernel regression with the logit-by-logit empirical NTK at
    initialisation (ridge -> 0) predicts."""
    task = small_task()
    options = TrainingOptions(
        optimizer={"name": "sgd", "learning_rate": 0.5, "momentum": 0.9}, batch_size=8, center=True,
        until={"train_loss": 1e-13}, max_steps=50_000, check_every=500,
    )
    result = LinearizedNetworkLearner(options).fit_predict(task)
    assert result.info["converged"] is True and result.info["train_error"] == 0.0

    network = task.init_model()
    params, static = eqx.partition(network, eqx.is_inexact_array)
    ntk = import_neural_tangents().empirical_ntk_fn(
        lambda p, x: jax.vmap(eqx.combine(p, static))(x), trace_axes=(), vmap_axes=0, implementation=1
    )
    n, m, classes = len(task.x_train), len(task.x_test), task.num_classes
    k_train = np.asarray(ntk(task.x_train, task.x_train, params), np.float64).transpose(0, 2, 1, 3).reshape(n * classes, -1)
    k_test = np.asarray(ntk(task.x_test, task.x_train, params), np.float64).transpose(0, 2, 1, 3).reshape(m * classes, -1)
    expected = (k_test @ np.linalg.solve(k_train, one_hot(task.y_train, classes).reshape(-1))).reshape(m, classes)
    assert np.max(np.abs(result.predictions - expected)) < 1e-3


def test_a_spec_runs_the_linearised_network_beside_the_network(tmp_path):
    from ntkbench import parse_spec, run_spec
    from ntkbench.storage import RecordStore

    spec = parse_spec("""\
name: linearised
dataset: {name: teacher_student, dim: 4, pool: 200, n_test: 20}
architecture: {name: mlp, width: 16, depth: 1}
learners:
  - {name: network, batch_size: 16, until: {train_error: 0.0}, max_steps: 400, center: true}
  - {name: network_linearized, batch_size: 16, until: {train_error: 0.0}, max_steps: 400, center: true}
sweep: {n_train: [8, 16], seeds: [0]}
""")
    assert run_spec(spec, tmp_path / "out", progress=False).computed == 4
    records = RecordStore(tmp_path / "out").load(spec.as_dict()).current
    linearised = [record for cell, record in records.items() if cell.learner_id == "network_linearized"]
    assert len(linearised) == 2 and all(record.ok and record.info["converged"] is not None for record in linearised)

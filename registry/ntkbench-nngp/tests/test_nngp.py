"""The NNGP learners: registered, and their kernels are the NNGP (infinite and empirical)."""

from __future__ import annotations

import importlib.metadata

import jax
import numpy as np
from ntkbench_nngp import EmpiricalNNGP, InfiniteNNGP, NNGPOptions

import ntkbench
from ntkbench.architectures.mlp import MLPArchitecture


def task(width: int = 64, n: int = 40, seed: int = 0) -> ntkbench.LearnerTask:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + 20, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    architecture = MLPArchitecture(MLPArchitecture.Options(width=width, depth=2))
    return ntkbench.LearnerTask(
        x_train=x[:n], y_train=y[:n], x_test=x[n:], num_classes=2, seed=seed, n_train_max=n,
        architecture=architecture, nested_subset=lambda m: (x[:m], y[:m]),
        held_out_subset=lambda m: (x[-m:], y[-m:]), cache=ntkbench.ArtifactCache(),
    ), y[n:]


def test_registered_as_third_party_learners():
    points = {ep.name: ep for ep in importlib.metadata.entry_points(group="ntkbench.learners")}
    assert points["nngp_infinite"].load() is InfiniteNNGP
    assert points["nngp_empirical"].load() is EmpiricalNNGP


def test_learners_predict_better_than_chance():
    for learner in (InfiniteNNGP(NNGPOptions()), EmpiricalNNGP(NNGPOptions())):
        cell, labels = task()
        result = learner.fit_predict(cell)
        assert result.predictions.shape == (20, 2)
        assert np.mean(result.predictions.argmax(1) == labels) > 0.7


def test_empirical_nngp_approaches_the_infinite_nngp_with_width():
    x = np.random.default_rng(1).normal(size=(10, 6)).astype(np.float32)
    distances = []
    for width in (32, 2048):
        architecture = MLPArchitecture(MLPArchitecture.Options(width=width, depth=2))
        model = architecture.init_model(input_shape=(6,), num_classes=2, key=jax.random.PRNGKey(0))
        features = np.asarray(jax.vmap(architecture.readout_features(model))(x))
        infinite = np.asarray(architecture.stax_twin(num_classes=2).kernel_fn(x, x, "nngp"))
        distances.append(np.linalg.norm(features @ features.T - infinite) / np.linalg.norm(infinite))
    assert distances[1] < 0.3 * distances[0] and distances[1] < 0.1

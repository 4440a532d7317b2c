"""Random features: primal and dual solves agree, and the learner is the empirical NNGP at its width."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from ntkbench_random_features import RandomFeatures, RandomFeaturesOptions, ridge_predict

import ntkbench
from ntkbench.architectures.mlp import MLPArchitecture
from ntkbench.kernels import kernel_ridge_predict, one_hot


def test_registered():
    points = {ep.name: ep for ep in importlib.metadata.entry_points(group="ntkbench.learners")}
    assert points["random_features"].load() is RandomFeatures


@pytest.mark.parametrize(("n", "p"), [(50, 10), (10, 50)])
def test_solve_equals_kernel_ridge_regression(n, p):
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(n, p)), rng.normal(size=(5, p))
    targets = one_hot(rng.integers(0, 3, n), 3)
    kernel = kernel_ridge_predict(train @ train.T, test @ train.T, targets, ridge=1e-3).predictions
    np.testing.assert_allclose(ridge_predict(train, test, targets, 1e-3), kernel, rtol=1e-6, atol=1e-8)


def test_features_come_from_the_network_at_the_chosen_width():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    architecture = MLPArchitecture(MLPArchitecture.Options(width=512, depth=1))
    cache = ntkbench.ArtifactCache()
    results = []
    for n in (20, 40):
        task = ntkbench.LearnerTask(
            x_train=x[:n], y_train=y[:n], x_test=x[40:], num_classes=2, seed=0, n_train_max=40,
            architecture=architecture, nested_subset=lambda m: (x[:m], y[:m]),
            held_out_subset=lambda m: (x[-m:], y[-m:]), cache=cache,
        )
        results.append(RandomFeatures(RandomFeaturesOptions(width=16)).fit_predict(task))
    assert results[0].info["features"] == 17  # 16 features of the width-16 network, and the bias
    assert np.mean(results[1].predictions.argmax(1) == y[40:]) > 0.6


def test_refuses_an_architecture_without_width():
    class NoWidth(ntkbench.Architecture):
        api_version = 1

        def init_model(self, **kwargs):
            raise NotImplementedError

        def has_readout_features(self) -> bool:
            return True

    problem = RandomFeatures(RandomFeaturesOptions()).architecture_problem(NoWidth(NoWidth.Options()))
    assert "has no 'width' option" in problem

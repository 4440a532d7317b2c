"""Random features: ridge regression on the readout features of the network at its width."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from ntkbench_random_features import RandomFeatures, RandomFeaturesOptions

import ntkbench
from ntkbench.architectures.mlp import MLPArchitecture
from ntkbench.kernels import kernel_ridge_predict, one_hot


def test_registered():
    points = {ep.name: ep for ep in importlib.metadata.entry_points(group="ntkbench.learners")}
    assert points["random_features"].load() is RandomFeatures


def task_on(x, y, n, architecture, cache):
    return ntkbench.LearnerTask(
        x_train=x[:n], y_train=y[:n], x_test=x[40:], num_classes=2, seed=0, n_train_max=40,
        architecture=architecture, nested_subset=lambda m: (x[:m], y[:m]),
        held_out_subset=lambda m: (x[-m:], y[-m:]), cache=cache,
    )


@pytest.mark.parametrize("width", [8, 64])
def test_predicts_ridge_regression_on_the_features_of_the_network_at_its_width(width):
    """Fewer features than samples (8 + bias < 30) and more (64 + bias): the same predictor."""
    import jax

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    architecture = MLPArchitecture(MLPArchitecture.Options(width=512, depth=1))
    task = task_on(x, y, 30, architecture, ntkbench.ArtifactCache())
    result = RandomFeatures(RandomFeaturesOptions(width=width, ridge=1e-3)).fit_predict(task)
    resized = architecture.at_width(width)
    model = resized.init_model(input_shape=(5,), num_classes=2, key=task.init_key())
    features = np.asarray(jax.vmap(resized.readout_features(model))(x), dtype=np.float64)
    train, test = features[:30], features[40:]
    expected = kernel_ridge_predict(train @ train.T, test @ train.T, one_hot(y[:30], 2), ridge=1e-3).predictions
    np.testing.assert_allclose(result.predictions, expected, rtol=1e-5, atol=1e-7)


def test_features_come_from_the_network_at_the_chosen_width():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    architecture = MLPArchitecture(MLPArchitecture.Options(width=512, depth=1))
    cache = ntkbench.ArtifactCache()
    results = []
    for n in (20, 40):
        task = task_on(x, y, n, architecture, cache)
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

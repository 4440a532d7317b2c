"""Random-features ridge regression for ntkbench: the finite-feature approximation of the NNGP.

With p features and n samples it solves the primal problem when p < n (cost p^2 n) and the
dual one otherwise (cost n^2 p); both give the same predictor.
"""

from __future__ import annotations

import numpy as np
from pydantic import NonNegativeFloat, PositiveInt

import ntkbench


class RandomFeaturesOptions(ntkbench.LearnerOptions):
    width: PositiveInt = 256
    """The architecture's width when drawing the features (the number of random features, up to the readout's input size)."""
    ridge: NonNegativeFloat = 1e-6
    """Ridge relative to the mean squared norm of the training features."""


def ridge_predict(train: np.ndarray, test: np.ndarray, targets: np.ndarray, ridge: float) -> np.ndarray:
    """Ridge regression of `targets` on the rows of `train`, predicting the rows of `test` (float64)."""
    train, test = train.astype(np.float64), test.astype(np.float64)
    n, p = train.shape
    penalty = ridge * float(np.mean(np.sum(train**2, axis=1)))
    if p < n:
        weights = np.linalg.solve(train.T @ train + penalty * np.eye(p), train.T @ targets)
        return test @ weights
    return test @ (train.T @ np.linalg.solve(train @ train.T + penalty * np.eye(n), targets))


class RandomFeatures(ntkbench.Learner):
    """Ridge regression on this seed's network features at initialisation, at `width`."""

    Options = RandomFeaturesOptions
    api_version = 1
    needs_readout_features = True

    def architecture_problem(self, architecture: ntkbench.Architecture) -> str | None:
        if not architecture.has_width():
            return f"random_features sets the architecture's width, and {type(architecture).__name__} has no 'width' option"
        return None

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        import jax

        from ntkbench.kernels import one_hot

        def seed_features() -> tuple[np.ndarray, np.ndarray]:
            resized = task.architecture.at_width(self.options.width)
            model = resized.init_model(input_shape=task.input_shape, num_classes=task.num_classes, key=task.init_key())
            features = jax.jit(jax.vmap(resized.readout_features(model)))
            x_max, _ = task.nested_subset(task.n_train_max)
            return np.asarray(features(x_max)), np.asarray(features(task.x_test))

        train, test = task.cache.get_or_create("features", seed_features)
        predictions = ridge_predict(train[: task.n_train], test, one_hot(task.y_train, task.num_classes), self.options.ridge)
        return ntkbench.LearnerResult(predictions, {"features": int(train.shape[1])})

"""NNGP learners for ntkbench: what training only the readout layer explains.

The NTK describes training every layer in the lazy regime; the NNGP kernel describes
training only the last one. Comparing the two with the network shows how much of its
scaling comes from learning features at all.
"""

from __future__ import annotations

from typing import Any

from pydantic import NonNegativeFloat

import ntkbench


class NNGPOptions(ntkbench.LearnerOptions):
    ridge: NonNegativeFloat = 1e-6
    """Ridge relative to the mean diagonal of the training kernel."""


class InfiniteNNGP(ntkbench.Learner):
    """Kernel ridge regression with the infinite-width NNGP kernel of the architecture's twin."""

    Options = NNGPOptions
    api_version = 1
    needs_stax_twin = True
    same_at_every_width = True

    def __init__(self, options: NNGPOptions):
        super().__init__(options)
        self._kernel_fn: Any = None

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        from ntkbench.kernels import infinite_kernel_fn, regress_with_kernel

        if self._kernel_fn is None:  # compiled once, shared by every seed
            self._kernel_fn = infinite_kernel_fn(task.architecture.stax_twin(num_classes=task.num_classes), "nngp")
        # The NNGP depends only on the inputs: seeds whose training sets overlap much share one kernel.
        return regress_with_kernel(self._kernel_fn, task, self.options.ridge, same_for_every_seed=True)


class EmpiricalNNGP(ntkbench.Learner):
    """Kernel ridge regression with the inner product of the network's readout features at init."""

    Options = NNGPOptions
    api_version = 1
    needs_readout_features = True

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        import jax
        import numpy as np

        from ntkbench.kernels import kernel_ridge_predict, one_hot

        def seed_features() -> tuple[np.ndarray, np.ndarray]:
            features = jax.jit(jax.vmap(task.architecture.readout_features(task.init_model())))
            x_max, _ = task.nested_subset(task.n_train_max)
            return np.asarray(features(x_max), np.float64), np.asarray(features(task.x_test), np.float64)

        # The kernel has rank at most width + 1: form it from float64 features, where it is exactly
        # positive semi-definite (a float32 kernel of low rank has round-off eigenvalues below zero).
        train, test = task.cache.get_or_create("features", seed_features)
        train = train[: task.n_train]
        fit = kernel_ridge_predict(train @ train.T, test @ train.T, one_hot(task.y_train, task.num_classes), self.options.ridge)
        return ntkbench.LearnerResult(fit.predictions, {"effective_ridge": fit.effective_ridge, "features": train.shape[1]})

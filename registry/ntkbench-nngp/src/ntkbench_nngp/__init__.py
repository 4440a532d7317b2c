"""NNGP learners for ntkbench: what training only the readout layer explains.

The NTK describes training every layer in the lazy regime; the NNGP kernel describes
training only the last one. Comparing the two with the network shows how much of its
scaling comes from learning features at all.
"""

from __future__ import annotations

from typing import Any

import ntkbench


class NNGPOptions(ntkbench.KernelRidgeOptions):
    """The ridge: one value, or `auto` / a list chosen per n on validation data."""


class InfiniteNNGP(ntkbench.Learner):
    """Kernel ridge regression with the architecture's infinite-width NNGP kernel."""

    Options = NNGPOptions
    api_version = 1
    needs_infinite_kernel = True
    same_at_every_width = True

    def __init__(self, options: NNGPOptions):
        super().__init__(options)
        self._kernel_fn: Any = None

    def needs_validation(self) -> bool:
        return self.options.chooses_ridge()

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        from ntkbench.kernels import architecture_kernel_fn, regress_with_kernel

        if self._kernel_fn is None:  # compiled once, shared by every seed
            self._kernel_fn = architecture_kernel_fn(task.architecture, num_classes=task.num_classes, kind="nngp")
        # The NNGP depends only on the inputs: seeds whose training sets overlap much share one kernel.
        return regress_with_kernel(self._kernel_fn, task, self.options.ridges(), same_for_every_seed=True)


class EmpiricalNNGP(ntkbench.Learner):
    """Kernel ridge regression with the inner product of the network's readout features at init."""

    Options = NNGPOptions
    api_version = 1
    needs_readout_features = True

    def needs_validation(self) -> bool:
        return self.options.chooses_ridge()

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        import jax

        from ntkbench.kernels import regress_with_features

        # The kernel has rank at most width + 1; regress_with_features forms it in float64.
        features = jax.jit(jax.vmap(task.architecture.readout_features(task.init_model())))
        return regress_with_features(features, task, self.options.ridges())

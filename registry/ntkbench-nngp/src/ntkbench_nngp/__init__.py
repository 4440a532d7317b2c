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

    def __init__(self, options: NNGPOptions):
        super().__init__(options)
        self._kernel_fn: Any = None

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        from ntkbench.kernels import infinite_kernel_fn, regress_with_kernel

        if self._kernel_fn is None:  # compiled once, shared by every seed
            self._kernel_fn = infinite_kernel_fn(task.architecture.stax_twin(num_classes=task.num_classes), "nngp")
        return regress_with_kernel(self._kernel_fn, task, self.options.ridge)


class EmpiricalNNGP(ntkbench.Learner):
    """Kernel ridge regression with the inner product of the network's readout features at init."""

    Options = NNGPOptions
    api_version = 1

    def architecture_problem(self, architecture: ntkbench.Architecture) -> str | None:
        if not architecture.has_readout_features():
            return f"nngp_empirical needs the architecture's readout features; {type(architecture).__name__} does not expose them"
        return None

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        import jax

        from ntkbench.kernels import regress_with_kernel

        features = jax.vmap(task.architecture.readout_features(task.init_model()))
        kernel_fn = jax.jit(lambda x1, x2: features(x1) @ features(x2).T)
        return regress_with_kernel(kernel_fn, task, self.options.ridge)

"""Random-features ridge regression for ntkbench: the finite-feature approximation of the NNGP.

With p features, the kernel has rank p: one ridge for every n interpolates at n = p (a
double-descent spike); `ridge: auto` chooses the ridge per n on validation data.
"""

from __future__ import annotations

from pydantic import PositiveInt

import ntkbench


class RandomFeaturesOptions(ntkbench.KernelRidgeOptions):
    width: PositiveInt = 256
    """The architecture's width when drawing the features (the number of random features, up to the readout's input size)."""


class RandomFeatures(ntkbench.Learner):
    """Ridge regression on this seed's network features at initialisation, at `width`."""

    Options = RandomFeaturesOptions
    api_version = 1
    needs_readout_features = True

    def architecture_problem(self, architecture: ntkbench.Architecture) -> str | None:
        if not architecture.has_width():
            return f"random_features sets the architecture's width, and {type(architecture).__name__} has no 'width' option"
        return None

    def needs_validation(self) -> bool:
        return self.options.chooses_ridge()

    def fit_predict(self, task: ntkbench.LearnerTask) -> ntkbench.LearnerResult:
        import jax

        from ntkbench.kernels import regress_with_features

        resized = task.architecture.at_width(self.options.width)
        model = resized.init_model(input_shape=task.input_shape, num_classes=task.num_classes, key=task.init_key())
        return regress_with_features(jax.jit(jax.vmap(resized.readout_features(model))), task, self.options.ridges())

"""`mlp`: a fully connected ReLU network and its `stax` twin.

In NTK parameterisation (the default) layer l computes `w_std / sqrt(fan_in) * x @ W + b_std * b`
with `W, b ~ N(0, 1)`, exactly as `stax.Dense(..., parameterization="ntk")`; with the same
parameters the two networks compute the same function, and as the width grows the empirical
NTK of the equinox network converges to the twin's infinite-width NTK. Inputs of any shape
are flattened.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

from .._plugins import Architecture, ArchitectureOptions, StaxTwin


class MLPOptions(ArchitectureOptions):
    width: PositiveInt = 512
    """Units in every hidden layer."""
    depth: PositiveInt = 2
    """Number of hidden layers."""
    w_std: PositiveFloat = math.sqrt(2.0)
    """Weight standard deviation sigma_w (sqrt(2) keeps ReLU activations at unit scale)."""
    b_std: NonNegativeFloat = 0.1
    """Bias standard deviation sigma_b (0: no bias)."""
    parameterization: Literal["ntk", "standard"] = "ntk"
    """`standard`: weights initialised with deviation w_std/sqrt(fan_in) and used as they are
    (see the README on what the infinite kernel then means)."""


class MLPArchitecture(Architecture):
    """Fully connected ReLU network with an exact `stax` twin."""

    Options = MLPOptions
    api_version = 1
    stax_twin_availability = "always"

    def init_model(self, *, input_shape: tuple[int, ...], num_classes: int, key: Any) -> Any:
        from ._mlp_network import MLP

        options = self.options
        return MLP(
            math.prod(input_shape),
            num_classes,
            width=options.width,
            depth=options.depth,
            w_std=options.w_std,
            b_std=options.b_std,
            parameterization=options.parameterization,
            key=key,
        )

    def has_stax_twin(self) -> bool:
        return True

    def stax_twin(self, *, num_classes: int) -> StaxTwin:
        from ..nt_compat import import_neural_tangents

        stax = import_neural_tangents().stax
        options = self.options
        b_std = options.b_std or None  # stax: None means no bias; ours is then multiplied by 0
        layers = [stax.Flatten()]
        for _ in range(options.depth):
            layers += [stax.Dense(options.width, options.w_std, b_std, parameterization=options.parameterization), stax.Relu()]
        layers.append(stax.Dense(num_classes, options.w_std, b_std, parameterization=options.parameterization))
        return StaxTwin(*stax.serial(*layers))

    def stax_parameters(self, model: Any) -> Any:
        from ._mlp_network import stax_parameters

        return stax_parameters(model)

    def has_readout_features(self) -> bool:
        return True

    def readout_features(self, model: Any) -> Any:
        from ._layers import readout_covariance_features

        options = self.options
        return lambda x: readout_covariance_features(model.features(x), options.w_std, options.b_std)

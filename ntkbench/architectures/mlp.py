"""`mlp`: a fully connected ReLU network in NTK parameterisation, and its `stax` twin.

Layer l computes `z = w_std / sqrt(fan_in) * x @ W + b_std * b` with `W, b ~ N(0, 1)`,
which is exactly neural-tangents' `stax.Dense(..., parameterization="ntk")`. With the same
parameter values the two networks compute the same function, and as the width grows the
empirical NTK of the equinox network converges to the twin's infinite-width NTK.
"""

from __future__ import annotations

import math
from typing import Any

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
    """Bias standard deviation sigma_b (0: the bias is inert)."""


class MLPArchitecture(Architecture):
    """Fully connected ReLU network (NTK parameterisation) with an exact `stax` twin."""

    Options = MLPOptions

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
            key=key,
        )

    def has_stax_twin(self) -> bool:
        return True

    def stax_twin(self, *, num_classes: int) -> StaxTwin:
        from ..nt_compat import import_neural_tangents

        stax = import_neural_tangents().stax
        b_std = self.options.b_std or None  # stax: None means no bias; ours is then multiplied by 0
        layers = [stax.Flatten()]
        for _ in range(self.options.depth):
            layers += [stax.Dense(self.options.width, self.options.w_std, b_std), stax.Relu()]
        layers.append(stax.Dense(num_classes, self.options.w_std, b_std))
        return StaxTwin(*stax.serial(*layers))

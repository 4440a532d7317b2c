"""`mlp`: a fully connected ReLU network and its `stax` twin.

In NTK parameterisation (the default) layer l computes `w_std / sqrt(fan_in) * x @ W + b_std * b`
with `W, b ~ N(0, 1)`, exactly as `stax.Dense(..., parameterization="ntk")`; with the same
parameters the two networks compute the same function, and as the width grows the empirical
NTK of the equinox network converges to the twin's infinite-width NTK. Inputs of any shape
are flattened.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field, NonNegativeFloat, PositiveInt

from ..api import StaxTwin
from ._base import LayeredArchitecture, LayeredOptions, dense_parameters

MAX_DEPTH = 1000
"""Deeper networks are refused: every layer is compiled unrolled."""


class MLPOptions(LayeredOptions):
    width: PositiveInt = 512
    """Units in every hidden layer."""
    depth: Annotated[int, Field(ge=1, le=MAX_DEPTH)] = 2
    """Number of hidden layers."""
    b_std: NonNegativeFloat = 0.1
    """Bias standard deviation sigma_b (0: no bias)."""


class MLPArchitecture(LayeredArchitecture):
    """Fully connected ReLU network with an exact `stax` twin."""

    Options = MLPOptions
    api_version = 1

    def init_model(self, *, input_shape: tuple[int, ...], num_classes: int, key: Any) -> Any:
        from ._mlp_network import MLP

        options = self.options
        return MLP(
            math.prod(input_shape),
            num_classes,
            width=options.width,
            depth=options.depth,
            scaling=self.scaling(),
            key=key,
        )

    def parameter_count(self, *, input_shape: tuple[int, ...], num_classes: int) -> int:
        options = self.options
        sizes = [math.prod(input_shape)] + [options.width] * options.depth + [num_classes]
        return sum(dense_parameters(a, b, options.b_std) for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    def stax_twin(self, *, num_classes: int) -> StaxTwin:
        from ..nt_compat import import_neural_tangents

        stax = import_neural_tangents().stax
        options = self.options
        b_std = options.b_std or None  # stax: None means no bias; ours is then multiplied by 0
        layers = [stax.Flatten()]
        for _ in range(options.depth):
            layers += [stax.Dense(options.width, options.w_std, b_std, parameterization=self.twin_parameterization()), stax.Relu()]
        layers.append(stax.Dense(num_classes, options.w_std, b_std, parameterization=self.twin_parameterization()))
        return StaxTwin(*stax.serial(*layers))

    def kernel_map(self, *, num_classes: int) -> Any:
        from .. import infinite

        options = self.options
        b_std = options.b_std or None
        layers: list[Any] = [infinite.Flatten()]
        for _ in range(options.depth):
            layers += [infinite.Dense(options.width, options.w_std, b_std, self.twin_parameterization()), infinite.Relu()]
        layers.append(infinite.Dense(num_classes, options.w_std, b_std, self.twin_parameterization()))
        return infinite.serial(*layers)

    def readout_input(self, model: Any) -> Callable[[Any], Any]:
        return model.features

"""`mlp`: a fully connected ReLU network, described once with `ntkbench.layers`.

In NTK parameterisation (the default) layer l computes `w_std / sqrt(fan_in) * x @ W + b_std * b`
with `W, b ~ N(0, 1)`, exactly as `stax.Dense(..., parameterization="ntk")`; with the same
parameters the network and its twin compute the same function, and as the width grows the
empirical NTK of the network converges to the infinite-width NTK. Inputs of any shape are flattened.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, NonNegativeFloat, PositiveInt

from ..layers import Dense, Flatten, LayeredArchitecture, LayeredOptions, Relu, Serial, serial

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
    """Flatten, `depth` hidden ReLU layers of `width` units, a linear readout."""

    Options = MLPOptions
    api_version = 1

    def layers(self, *, num_classes: int) -> Serial:
        hidden = [Dense(self.options.width), Relu()] * self.options.depth
        return serial(Flatten(), *hidden, Dense(num_classes))
